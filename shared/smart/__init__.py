"""SMART Backend Services and OpenID Connect user tokens (docs/authentication.md).

- keys.py: JSON Web Keys -- the platform's signing key, key sets, thumbprints;
- development.py: the committed development-only keys, refused elsewhere;
- config.py: the AUTH_* and OIDC_* settings as the services use them, and their checks;
- jwks.py: key sets fetched from a URL (a client's `jwks_uri`, the identity provider's);
- scopes.py: SMART v2 scopes and how a request is narrowed to a registration;
- clients.py: the registered backend-services clients (AUTH_CLIENTS_FILE);
- client_assertion.py: what a client signs (the client's side, for scripts and tests);
- assertions.py: the checks of a client's signed assertion (private_key_jwt);
- replay.py: assertion ids already used, refused across replicas;
- tokens.py: the platform's access tokens, issued and verified;
- oidc.py: user tokens of the external OpenID Connect provider;
- authenticator.py: a bearer token to a Principal, fast, for every request;
- resolve.py: a registration's conditional references made literal;
- grants.py: the token endpoint's work (POST /auth/token), without routing;
- errors.py: its OAuth 2.0 error answers;
- urls.py: the public origin and the token endpoint's URL, as a request names them;
- endpoints.py: the token endpoint and the discovery documents.

Nothing is re-exported here: shared/settings.py imports config.py, which must not pull in
the web layer.
"""
