"""Chunks of exactly ``chunk_size`` rows out of batches of any size, read and encoded in a
background thread into reused buffers (pyarrow and NumPy copies release the GIL, so the next
chunk is decoded while the caller builds leaves from the two before it)."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from .._malloc import populated_empty

#: Chunks a consumer may hold at once: the last VALID_CHUNKS chunks taken stay untouched.
VALID_CHUNKS = 2


def rechunk_batches(batches, chunk_size: int) -> Iterator[tuple[int, object]]:
    """(first row, pyarrow Table) with ``chunk_size`` rows each (the last may be shorter) out of
    record batches of any size, without copying: a leaf never depends on row-group or block
    sizes, so the same rows in any format make the same tree."""
    import pyarrow as pa

    pending, pending_rows, start = [], 0, 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch.num_rows, chunk_size - pending_rows)
            pending.append(batch.slice(0, take))
            pending_rows += take
            batch = batch.slice(take)
            if pending_rows == chunk_size:
                yield start, pa.Table.from_batches(pending)
                start, pending, pending_rows = start + chunk_size, [], 0
    if pending_rows:
        yield start, pa.Table.from_batches(pending)


def background_chunks(
    raw_chunks: Iterator[tuple[int, object, object]],
    fill: Callable[[object, np.ndarray], np.ndarray],
    max_rows: int,
    width: int,
    dtype,
) -> Iterator[tuple[int, np.ndarray, object]]:
    """Advance ``raw_chunks`` (first row, raw features, labels) in a reader thread and turn each
    chunk's features into floats with ``fill(features, buffer)`` there, into one of
    VALID_CHUNKS + 1 reused buffers. Yields (first row, X, labels); X stays valid until
    VALID_CHUNKS more chunks were taken (a build works on two leaves at once while the next
    chunk is read). An error in the thread is raised in the caller."""
    free: queue.Queue = queue.Queue()
    ready: queue.Queue = queue.Queue()
    taken: deque = deque()
    stop = threading.Event()

    def work() -> None:
        made = 0  # buffers are made here, when first needed: the first chunk waits for one
        try:
            for start, features, labels in raw_chunks:
                if made < VALID_CHUNKS + 1 and free.empty():
                    buffer = populated_empty((max_rows, width), dtype)
                    made += 1
                else:
                    buffer = free.get()
                if stop.is_set():
                    return
                rows = len(labels)
                ready.put((start, buffer, fill(features, buffer[:rows]), labels))
            ready.put(None)
        except BaseException as error:  # handed to the consumer, which re-raises it
            ready.put(error)

    reader = threading.Thread(target=work, name="coreset-engine-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, buffer, X, labels = item
            taken.append(buffer)
            if len(taken) > VALID_CHUNKS:  # the chunk VALID_CHUNKS before this one is done
                free.put(taken.popleft())
            yield start, X, labels
    finally:
        stop.set()
        free.put(None)  # wake a reader waiting for a buffer
        reader.join()
