"""The OpenAPI description of the HTTP API (`GET /openapi.json`) and its reference page (`GET
/docs`). Names, methods and access come from the surfaces' registries (`api_php.COMMANDS`,
`rest.protocol.ACTIONS`, the app's routes); each operation's parameters and answers are declared
here, one module per surface, and a test holds the two to each other."""
