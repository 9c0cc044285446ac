"""The check part: contract-test and drift-check any deployment (the mock or a real Bifrost) over HTTP.

It never imports the server (``vkmock.serve``, ``vkmock.control``, ``vkmock.app``): what it knows of Bifrost
comes from the spec of the chosen API profile, and what it knows of the deployment, from its answers.

| module | one job |
|---|---|
| ``http`` | a small stdlib HTTP client: target, credentials and their redaction, reading every page of the list |
| ``expect`` | what an answer must look like (error envelope, JSON not HTML), shared by hooks, probes and drift |
| ``profiles`` | ``--bifrost 1.4|1.5|auto``: the profile's spec, what it documents; ``auto`` asks ``/api/version`` |
| ``catalog`` | the names and meanings of the checks, the phases, what a failed check is |
| ``options`` | ``ContractOptions``, their validation, the command-line options ``contract`` and ``drift`` share |
| ``probes`` | the requests every contract run sends on purpose (unknown ids, no credentials, a wrong method) |
| ``plan`` | the Schemathesis run: its config file, command line and environment |
| ``runner`` | running that child process so that Ctrl-C/SIGTERM can always be answered |
| ``cleanup`` | deleting the ``vkmock-contract-*`` keys a write run made |
| ``summary`` | reading Schemathesis' reports back, writing the user's reports, the one-screen summary |
| ``contract`` | ``vkmock contract``: ``run_contract`` ties the above together; the click command |
| ``schemadiff`` | the differences between a document and a response schema, found by jsonschema-rs |
| ``allowlist`` | the differences ``vkmock drift --allowlist`` accepts |
| ``drift`` | ``vkmock drift``: its probes, the report, the click command |
| ``hooks`` | vkmock's Schemathesis checks and write-safety hooks (loaded by the child only) |
| ``pytest_plugin`` | the ``vkmock_contract`` and ``vkmock_serve`` fixtures for users' own test suites |
"""
