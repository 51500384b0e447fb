"""Issue 19, section 3: an `Identity` comes only from a proof in claims.services.identity, never from a typed name."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from claims.services.identity import Identity, system_identity


def test_an_identity_cannot_be_built_from_a_name_outside_the_identity_module():
    with pytest.raises(TypeError, match=r"only claims\.services\.identity builds one"):
        Identity("alice", "admin")
    with pytest.raises(TypeError, match=r"only claims\.services\.identity builds one"):
        Identity(name="alice", role="admin", seal=object())  # a seal of one's own is not the module's


def test_a_proven_identity_cannot_be_copied_into_another_name():
    with pytest.raises(TypeError, match=r"only claims\.services\.identity builds one"):
        dataclasses.replace(system_identity(), name="alice", role="admin")


def test_the_system_identity_is_the_built_in_system_user():
    who = system_identity()
    assert (who.name, who.role) == ("system", "system")
    assert who.may("assess") and not who.may("approve")
    assert who == system_identity() and pickle.loads(pickle.dumps(who)) == who  # Dask ships it to its workers
