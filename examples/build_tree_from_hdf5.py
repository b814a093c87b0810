"""Build a coreset tree by streaming an HDF5 file, then save it and read it back.

The file here is a synthetic 2-class problem written to the current folder; point
``build_from_file`` at your own file (a 2-D feature dataset and a 1-D label dataset).

    python examples/build_tree_from_hdf5.py
"""

import numpy as np

from coreset_engine import CoresetTree
from coreset_engine.synthetic import make_synthetic_hdf5

# 300,000 rows x 10 heavy-tailed features, written 65,536 rows at a time
make_synthetic_hdf5("data.h5", 300_000, n_features=10, n_classes=2, random_state=0)

tree = CoresetTree(coreset_size=2_000, chunk_size=50_000, random_state=0)
tree.build_from_file("data.h5", x="X", y="y")  # reads one chunk at a time
print(f"{tree.n_samples_:,} rows in {tree.n_leaves_} leaves, tree depth {tree.depth_}")
for level in range(tree.depth_ + 1):
    coreset = tree.get_coreset(level)  # deeper levels: more rows, closer to the data
    classes = np.bincount(coreset.y, minlength=tree.n_classes_)
    print(f"level {level}: {len(coreset):>6,} rows, weights sum to {coreset.weights.sum():,.0f}, "
          f"rows per class {classes.tolist()}")  # fmt: skip

tree.save("tree.h5")
again = CoresetTree.load("tree.h5")
assert np.array_equal(again.get_coreset().indices, tree.get_coreset().indices)
print("saved to tree.h5 and loaded back: the same root coreset")
