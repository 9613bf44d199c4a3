"""The benchmark (`make bench`, docs/performance.md): what the project costs at platform scale.

    python -m hardened_doks.tools.bench                      # N = 1, 50, 200, 500 under mocks; 10, 50, 200 with the engine
    BENCH_N=10,50 BENCH_ENGINE_N=10 python -m hardened_doks.tools.bench      # a quick run
    python -m hardened_doks.tools.bench --no-engine          # the program under mocks only (no toolchain needed)

Not a test: it prints figures and writes them as JSON (build/bench/bench.json); CI does not run it.

- :mod:`hardened_doks.tools.bench.configs`: generated stack configs for N tenant namespaces (a realistic mix);
- :mod:`hardened_doks.tools.bench.program`: the program under mocks, with the render and the policy pack;
- :mod:`hardened_doks.tools.bench.engine`: the real engine against the e2e tier's local control plane, beside
  ``kubectl apply --server-side`` of the same objects (the floor).
"""
