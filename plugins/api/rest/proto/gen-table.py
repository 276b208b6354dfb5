#!/usr/bin/env python3
"""Generates k8s-types.json with scripts/gen-proto-table.py plus the kinds
only the REST gateway serves: the authorization.k8s.io/v1 and
authentication.k8s.io/v1, v1beta1 reviews (review.c), which kubectl 1.33's
`auth can-i`, `auth can-i --list` and `auth whoami` send as protobuf.
Their ExtraValue (a user's extra values, a named []string) has a JSON of
its own, the list: proto.c converts it as "stringlist".

    plugins/api/rest/proto/gen-table.py /usr/lib/google-cloud-sdk/bin/kubectl.1.33 \\
        plugins/api/rest/proto/k8s-types.json

Kept beside the table, not in the shared script, because these kinds are
the gateway's own; the script does everything else."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "..", "..", "scripts", "gen-proto-table.py")

REVIEWS = [
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview",
     "k8s.io.api.authorization.v1.SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SubjectAccessReview",
     "k8s.io.api.authorization.v1.SubjectAccessReview"),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview",
     "k8s.io.api.authorization.v1.LocalSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview",
     "k8s.io.api.authorization.v1.SelfSubjectRulesReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview",
     "k8s.io.api.authentication.v1.SelfSubjectReview"),
    ("authentication.k8s.io/v1beta1", "SelfSubjectReview",
     "k8s.io.api.authentication.v1beta1.SelfSubjectReview"),
    # not a review, but also answered outside the object API: the
    # serviceaccounts/token subresource (kubectl create token)
    ("authentication.k8s.io/v1", "TokenRequest",
     "k8s.io.api.authentication.v1.TokenRequest"),
]

STRINGLISTS = [
    "k8s.io/api/authorization/v1.ExtraValue",
    "k8s.io/api/authentication/v1.ExtraValue",
]


def main():
    spec = importlib.util.spec_from_file_location("gen_proto_table", SCRIPT)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    known = {(gv, kind) for gv, kind, _ in gen.KINDS}
    gen.KINDS += [k for k in REVIEWS if (k[0], k[1]) not in known]
    for name in STRINGLISTS:
        gen.SPECIAL.setdefault(name, "stringlist")
    gen.main()


if __name__ == "__main__":
    main()
