"""What the tests and the benchmarks share, none of it a test: the fake OpenAI server and Batch API
(``fake_openai``), the real services' starters (``services``: redis-server, a Postgres cluster, Celery workers;
``ceph_rgw``, ``s3_server``, ``llama_server``) and the child programs the interrupt tests and benchmark run
(``children``)."""
