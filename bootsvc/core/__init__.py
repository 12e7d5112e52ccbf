"""The domain, one subpackage per noun: catalog, cmdb, boot, rollout,
nodeconfig, dhcp, dns. Front ends (web, cli) and the runtime (serve) call it;
it calls the store, and uses net's value types and protocols."""
