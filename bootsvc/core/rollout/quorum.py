"""How many nodes of a cluster may be out at once without corosync losing
quorum. votequorum gives each node one vote and needs a majority of the
expected votes; a two-node cluster runs with `two_node`, which lets either
node carry on alone, and a lone node has no partner whose quorum it could
take away, so both may lose one."""

from __future__ import annotations


def max_out(voters: int) -> int:
    """Nodes that may be down at once among `voters` voting nodes."""
    if voters <= 2:
        return min(voters, 1)
    return (voters - 1) // 2
