"""Per-node configuration: the files that make a node of a shared image
*this* node (name, network, cluster membership), rendered from the CMDB on
request, and the secrets that go to that node alone.

- `inputs`: what a render reads from the CMDB, as plain values;
- `clustersettings`, `network`: the cluster settings templates use, and the
  node's network and Open vSwitch layout, validated;
- `files`: the one list that decides which files a node gets;
- `templating`: Jinja2 with errors that name the template and line;
- `overlay`: render and pack, cached by a digest of the inputs;
- `vault`, `keys`, `secretfiles`, `onetime`: secrets, sealed at rest, sent
  once to the node they belong to;
- `delivery`: what the iPXE script loads (or the rescue it gets instead).
"""
