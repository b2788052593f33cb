"""Sums `nm -S -C` symbol sizes by the crate a symbol belongs to (its first path segment,
or the type's crate inside `<Type as Trait>`), and prints the top crates and symbols."""
import re
import sys
from collections import Counter

by_crate = Counter()
symbols = []
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4 or parts[2] not in "tTdDrRbB":
        continue
    size = int(parts[1], 16)
    name = parts[3]
    inner = name.lstrip("<&*")
    inner = re.sub(r"^(mut |const |dyn )+", "", inner)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", inner)
    crate = m.group(1) if m else ("<C/other>" if "::" not in name else "<generic>")
    by_crate[crate] += size
    symbols.append((size, name))
total = sum(by_crate.values())
print(f"  symbols total {total / 1048576:.2f} MiB")
print("  | crate | size | share |")
print("  |---|---:|---:|")
for crate, size in by_crate.most_common(15):
    print(f"  | {crate} | {size / 1024:.0f} KiB | {100 * size / total:.1f} % |")
print("  largest symbols:")
for size, name in sorted(symbols, reverse=True)[:8]:
    print(f"    {size / 1024:7.1f} KiB  {name[:110]}")
