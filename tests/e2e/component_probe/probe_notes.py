"""A component that writes one ConfigMap: a Python component provider's child resource, seen live."""

from typing import Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s


class NoteArgs(TypedDict):
    namespace: pulumi.Input[str]
    """Namespace of the ConfigMap."""
    text: pulumi.Input[str]
    """What the note says."""
    copies: Optional[pulumi.Input[int]]
    """How many times the text is repeated."""
    token: Optional[pulumi.Input[str]]
    """A secret the component passes back (it must stay secret in the consumer's state)."""


class Note(pulumi.ComponentResource):
    """A ConfigMap holding a note."""

    config_map_name: pulumi.Output[str]
    """Name of the ConfigMap."""
    copies_type: pulumi.Output[str]
    """Python type of `copies` as the component received it."""
    token_echo: pulumi.Output[str]
    """The token, passed back."""

    def __init__(self, name: str, args: NoteArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("probe-notes:index:Note", name, {}, opts)
        copies = pulumi.Output.from_input(args.get("copies") or 1)
        config_map = k8s.core.v1.ConfigMap(
            name,
            metadata={"namespace": args["namespace"]},
            data={"note": pulumi.Output.all(args["text"], copies).apply(lambda tc: " ".join([tc[0]] * int(tc[1])))},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.config_map_name = config_map.metadata.apply(lambda m: m.name)
        self.copies_type = copies.apply(lambda c: type(c).__name__)
        self.token_echo = pulumi.Output.from_input(args.get("token") or "")
        self.register_outputs(
            {"configMapName": self.config_map_name, "copiesType": self.copies_type, "tokenEcho": self.token_echo}
        )
