"""The signed REST API of 003 (`/rest/[controller]/[action]/[param]...`): the protocol in
`protocol.py`, one module per controller registering its actions."""
