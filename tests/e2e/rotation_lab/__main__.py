"""Kyverno's registry credential and the Secret holding it, as dynamic resources whose "cloud" is
a log file: the credential carries the stack's replacement_trigger (components/registry_access.py:
the rotation period of LAB_NOW), the Secret holds the credential's token."""

import os
import uuid
from datetime import datetime

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from hardened_doks.registry_access import rotation_period

LOG = os.environ["LAB_LOG"]


def record(line: str) -> None:
    with open(LOG, "a") as handle:
        handle.write(line + "\n")


class Cloud(ResourceProvider):
    def create(self, props):
        id_ = uuid.uuid4().hex[:8]
        record(f"create {props['kind']} {id_} {props.get('holds', '')}".rstrip())
        return CreateResult(id_, {**props, "token": f"token-{id_}"})

    def diff(self, id_, olds, news):
        return DiffResult(changes=olds.get("holds") != news.get("holds"), replaces=[])

    def update(self, id_, olds, news):
        record(f"update {news['kind']} {id_} {news['holds']}")
        return UpdateResult({**news, "token": olds.get("token")})

    def delete(self, id_, props):
        record(f"delete {props['kind']} {id_}")


class Thing(Resource):
    token: pulumi.Output[str]

    def __init__(self, name, props, opts=None):
        super().__init__(Cloud(), name, {**props, "token": None}, opts)


period = rotation_period(datetime.fromisoformat(os.environ["LAB_NOW"]), 30)
credential = Thing("credential", {"kind": "credential"}, pulumi.ResourceOptions(replacement_trigger=period))
Thing("secret", {"kind": "secret", "holds": credential.token})
pulumi.export("period", period)
