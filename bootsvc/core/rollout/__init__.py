"""Rollouts of new versions across a cluster: waves, and the reboot slots that
keep corosync quorate while nodes restart."""
