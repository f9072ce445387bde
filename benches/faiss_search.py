"""FAISS IndexBinaryFlat on one thread, for benches/search.rs: reads the query and the codes
that the Rust bench wrote (the query first, bits/8 bytes each) and prints the median time of
one top-10 search in milliseconds."""
import sys, time

import faiss
import numpy as np

path, bits, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
faiss.omp_set_num_threads(1)
raw = np.fromfile(path, dtype=np.uint8).reshape(-1, bits // 8)
query, codes = raw[:1], raw[1:]
index = faiss.IndexBinaryFlat(bits)
index.add(codes)
index.search(query, 10)
times = []
for _ in range(runs):
    t = time.perf_counter()
    index.search(query, 10)
    times.append(time.perf_counter() - t)
times.sort()
print(f"{times[len(times) // 2] * 1e3:.6f}")
