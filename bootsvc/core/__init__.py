"""The domain: catalog, CMDB, boot plans, rendering, tokens and reports.
Front ends (web, cli) call it; it calls the store."""
