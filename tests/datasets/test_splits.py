"""Split resolution by the HF Hub's file naming conventions."""

from hub.datasets.splits import resolve_splits, split_of


def test_files_named_by_split():
    paths = ["README.md", ".gitattributes", "train.jsonl", "validation.csv", "test.parquet"]
    assert resolve_splits(paths) == {"train": ["train.jsonl"], "validation": ["validation.csv"],
                                     "test": ["test.parquet"]}  # fmt: skip


def test_parquet_shards_in_data_folder_with_custom_split():
    paths = ["data/train-00001-of-00002.parquet", "data/train-00000-of-00002.parquet",
             "data/unsupervised-00000-of-00001.parquet", "data/test-00000-of-00001-5b1c2a.parquet"]  # fmt: skip
    assert resolve_splits(paths) == {
        "train": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
        "test": ["data/test-00000-of-00001-5b1c2a.parquet"],
        "unsupervised": ["data/unsupervised-00000-of-00001.parquet"],
    }


def test_split_folders_and_aliases():
    paths = ["test/part-1.csv", "test/part-2.csv", "dev/a.jsonl", "data/val.jsonl", "training_data.jsonl"]
    assert resolve_splits(paths) == {
        "train": ["training_data.jsonl"],
        "validation": ["data/val.jsonl", "dev/a.jsonl"],
        "test": ["test/part-1.csv", "test/part-2.csv"],
    }
    assert split_of("eval.jsonl") == "test"  # as on the HF Hub
    assert split_of("train/test_part.csv") == "train"  # a folder's name wins over the file's


def test_no_split_names_means_everything_is_train():
    paths = ["README.md", "reviews.csv", "more/reviews-2.jsonl", "config.yaml", "notes.txt"]
    assert resolve_splits(paths) == {"train": ["more/reviews-2.jsonl", "reviews.csv"]}


def test_words_inside_other_words_are_not_split_names():
    assert split_of("contest.csv") is None
    assert split_of("devanagari.csv") is None
    assert split_of("values.jsonl") is None


def test_files_outside_named_splits_are_left_out():
    assert resolve_splits(["train.csv", "test.csv", "extra.csv"]) == {"train": ["train.csv"], "test": ["test.csv"]}


def test_hidden_and_metadata_files_are_ignored():
    paths = [".cache/train.jsonl", "__pycache__/x.json", "dataset_info.json", "train.jsonl"]
    assert resolve_splits(paths) == {"train": ["train.jsonl"]}
    assert resolve_splits(["README.md", ".gitattributes"]) == {}
