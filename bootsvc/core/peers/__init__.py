"""Several bootsvc servers on one database: who they are, what each store
holds, and artifacts fetched from one another by sha256."""
