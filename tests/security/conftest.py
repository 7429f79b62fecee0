"""A small world for the security tests: an organisation with a member of each role, an outsider, a user with
repos of their own, public and private twins of each repo type (same files), and a way to see writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client

CASES = {"count": 0}
FUZZ = {"count": 0}
PRIVATE_MARK = "secret"  # every private repo's name holds it, and nothing public does


@dataclass
class Persona:
    name: str
    user: object | None  # None: anonymous
    token: str | None
    read_only: bool = False

    def client(self) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {self.token}") if self.token else Client()


@dataclass
class Resource:
    type: str
    owner: str
    name: str
    private: bool
    head: str = ""
    files: dict = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class World:
    personas: dict[str, Persona]
    resources: list[Resource]
    tokens: dict[str, int]  # persona → id of one of its tokens

    def twin(self, resource: Resource) -> Resource:
        return next(
            r for r in self.resources if r.type == resource.type and r.owner == resource.owner and not r.private
        )

    def ghost(self, resource: Resource) -> Resource:
        return Resource(resource.type, resource.owner, f"{PRIVATE_MARK}-ghost", True, resource.head)


FILES = {
    "config.json": b'{"model_type": "bert"}',
    "data.csv": b"text,label\nhello,1\nbye,0\n",
    "notes/a.txt": b"a\n",
}


def _readme(extra: str = "") -> bytes:
    return f"---\nlicense: mit\ntags: [demo]\n{extra}---\n# Demo\n".encode()


def build_world() -> World:
    from hub.accounts import services as accounts
    from hub.accounts.models import ApiToken
    from hub.registry.services.commits import AddFile, create_branch, create_commit, create_tag
    from hub.registry.services.repos import create_repo

    users = {n: accounts.create_user(username=n, password="correct-horse-battery")
             for n in ("olga", "wanda", "rita", "oscar", "carol")}  # fmt: skip
    acme = accounts.create_organisation(name="acme", creator=users["olga"])
    accounts.set_membership(organisation=acme, user=users["wanda"], role="write")
    accounts.set_membership(organisation=acme, user=users["rita"], role="read")

    def token(user, role="write") -> str:
        return accounts.issue_token(user=user, name="test", role=role)[1]

    personas = {
        "admin": Persona("admin", users["olga"], token(users["olga"])),
        "writer": Persona("writer", users["wanda"], token(users["wanda"])),
        "reader": Persona("reader", users["rita"], token(users["rita"])),
        "outsider": Persona("outsider", users["oscar"], token(users["oscar"])),
        "carol": Persona("carol", users["carol"], token(users["carol"])),
        "read_token": Persona("read_token", users["olga"], token(users["olga"], "read"), read_only=True),
        "anonymous": Persona("anonymous", None, None),
    }
    resources = []
    # Org repos of both types; a user's own repos as models only (the type changes nothing about ownership).
    layout = [("model", "model", "acme"), ("dataset", "data", "acme"), ("model", "model", "carol")]
    for type, label, owner in layout:
        namespace = acme.namespace if owner == "acme" else users["carol"].namespace
        author = users["olga"] if owner == "acme" else users["carol"]
        for private in (False, True):
            name = f"{PRIVATE_MARK}-{label}" if private else f"open-{label}"
            repo = create_repo(namespace=namespace, name=name, type=type, private=private, author=author)
            extra = "base_model: acme/open-model\n" if private and type == "model" and owner == "acme" else ""
            files = {"README.md": _readme(extra), **FILES}
            create_commit(repo=repo, author=author, operations=[AddFile(path="README.md", content=files["README.md"])],
                          title="card")  # fmt: skip
            create_tag(repo=repo, name="v1")
            head = create_commit(
                repo=repo, author=author, title="files",
                operations=[AddFile(path=p, content=c) for p, c in FILES.items()],
            )  # fmt: skip
            create_branch(repo=repo, name="dev")
            resources.append(Resource(type, owner, name, private, head.sha, files))
    tokens = {
        p: ApiToken.objects.filter(user=persona.user).first().pk for p, persona in personas.items() if persona.user
    }
    return World(personas, resources, tokens)


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker):
    """Built and committed once per module (each test then runs in its own rolled-back transaction), and
    deleted at the end of the module so that other tests never see it."""
    with django_db_blocker.unblock():
        world = build_world()
    try:
        yield world
    finally:
        with django_db_blocker.unblock():
            _delete_world()


def _delete_world() -> None:
    from hub.accounts.models import Organisation, User
    from hub.registry.models import Repo

    usernames = ("olga", "wanda", "rita", "oscar", "carol")
    from hub.registry.services.repos import delete_repo

    for repo in Repo.objects.filter(namespace__name__in=("acme", *usernames)):
        delete_repo(repo=repo)
    Organisation.objects.filter(name="acme").delete()
    User.objects.filter(username__in=usernames).delete()


@pytest.fixture
def world(module_world, db) -> World:
    return module_world


def role_of(persona: Persona, resource: Resource) -> str | None:
    """The persona's role in the resource's namespace (None: none), from the world's definition."""
    if persona.user is None:
        return None
    username = persona.user.username
    if resource.owner == "carol":
        return "admin" if username == "carol" else None
    return {"olga": "admin", "wanda": "write", "rita": "read"}.get(username)


def can_read(persona: Persona, resource: Resource) -> bool:
    return not resource.private or role_of(persona, resource) is not None


def can_write(persona: Persona, resource: Resource) -> bool:
    return not persona.read_only and role_of(persona, resource) in ("write", "admin")


def _fingerprint_sql() -> str:
    """One query whose answer changes when any row of the hub's tables is inserted, updated or deleted.

    Postgres gives every new row version a new ctid, so the list of ctids changes on any write. Token rows are
    compared by their meaning instead: authenticating a token stamps its last use, which is not a write we mean.
    """
    parts = []
    for model in apps.get_models():
        if not model.__module__.startswith("hub."):
            continue
        table = connection.ops.quote_name(model._meta.db_table)
        if model._meta.db_table == "accounts_apitoken":
            parts.append(f"(SELECT md5(coalesce(string_agg(id || role || name || coalesce(revoked_at::text, ''), ',' "
                         f"ORDER BY id), '')) FROM {table})")  # fmt: skip
        else:
            parts.append(f"(SELECT md5(coalesce(string_agg(ctid::text, ',' ORDER BY ctid), '')) FROM {table})")
    return "SELECT " + " || ".join(parts)


@pytest.fixture
def fingerprint():
    sql = _fingerprint_sql()

    def take() -> str:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    return take


def pytest_terminal_summary(terminalreporter):
    if CASES["count"]:
        terminalreporter.write_line(f"security matrix: {CASES['count']} generated request cases")
    if FUZZ["count"]:
        terminalreporter.write_line(f"schemathesis: {FUZZ['count']} generated API cases")
