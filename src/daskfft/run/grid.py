"""The run's chunk grid: the chunk edge when none is given, rounded to the input's tiles
or store chunks and to the output's tiles, with a note for each choice the user did not
make.  The arithmetic is :mod:`daskfft.kernels.grid`'s."""

from __future__ import annotations

from daskfft import io
from daskfft.io.base import aligned_chunks
from daskfft.kernels.grid import DEFAULT_CHUNKS, DEFAULT_VOLUME_CHUNKS, plan_grid
from daskfft.messages import run as msg

__all__ = ["LARGE_CHUNKS", "LARGE_FROM", "default_chunks", "chunk_grid"]


#: The chunk edge a large image gets when none is given, and from how many such chunks on.
LARGE_CHUNKS, LARGE_FROM = 2048, 16


def default_chunks(shape):
    """The chunk edge when none is given: :data:`LARGE_CHUNKS` px where the image holds at
    least :data:`LARGE_FROM` whole chunks of it (8192^2 and up), else
    :data:`~daskfft.kernels.grid.DEFAULT_CHUNKS`.

    From the image alone, so the same command chunks (and rounds) alike on any machine and
    cluster.  Measured at 8192^2 on 2 cores, three runs each, work in seconds, 1024 against
    2048-px chunks: sigma 8 default 1.08-1.13 against 0.78-0.87, lean 0.67-0.75 against
    0.57-0.63; sigma 32 default 1.14-1.20 against 0.86-0.95 (its 161-px halo adds 73 % of FFT
    work to a 1024-px chunk, 34 % to a 2048-px one), and a quarter as many chunk summaries.
    16 chunks keep 16 cores busy; on a smaller image, 1024 px keeps more than 4.
    """
    whole = (shape[0] // LARGE_CHUNKS) * (shape[1] // LARGE_CHUNKS)
    return LARGE_CHUNKS if whole >= LARGE_FROM else DEFAULT_CHUNKS


def _whole_tiles(chunk, length, tile, depth):
    """``chunk`` rounded to whole tiles, at least one and at least ``depth``; an axis held in
    one chunk stays so (it has no chunk edge inside)."""
    if chunk >= length:
        return chunk
    return tile * max(1, round(chunk / tile), -(-depth // tile))


def _large_note(want, depth):
    """The note for ``want``-px chunks chosen over the default: how much less halo they read."""
    return msg.LARGE_CHUNKS.format(
        want=want,
        large_from=LARGE_FROM,
        depth=depth,
        default=DEFAULT_CHUNKS,
        more=((want + 2 * depth) / want) ** 2 - 1,
        default_more=((DEFAULT_CHUNKS + 2 * depth) / DEFAULT_CHUNKS) ** 2 - 1,
    )


def chunk_grid(config, info, depth, notes, *, tile=None):
    """Chunk sizes along rows and columns for ``config`` (a RunConfig) on ``info`` (an
    ImageInfo) with a ``depth``-px halo, a note appended to ``notes`` for each choice not
    given; ``tile``: the output's (edge, why, format), whose whole tiles each chunk is made
    of, so that no two tasks write the same tile."""
    want = config.chunks
    if want is None and info.planes > 1:
        want = DEFAULT_VOLUME_CHUNKS
        notes.append(msg.VOLUME_CHUNKS.format(want=want))
    elif want is None:
        want = default_chunks(info.shape)
        if want != DEFAULT_CHUNKS:
            notes.append(_large_note(want, depth))
    rows, cols = aligned_chunks(info, want)
    aligned = None  # the note's index, where chunks were made whole tiles of the input
    if (rows, cols) != (want, want):
        aligned = len(notes)
        notes.append(
            msg.ALIGNED_TO_INPUT.format(
                rows=rows,
                cols=cols,
                want=want,
                tile_rows=info.native_chunks[0],
                tile_cols=info.native_chunks[1],
                unit=msg.INPUT_TILES
                if io.backend(info.format).default_tile  # a tiled format's own: tiles
                else msg.INPUT_STORE_CHUNKS,
                reads=msg.READS_ITS_OWN,
            )
        )
    if min(rows, cols) < depth:
        notes.append(msg.RAISED_TO_HALO.format(smallest=min(rows, cols), depth=depth))
        rows, cols = max(rows, depth), max(cols, depth)
    if tile is not None:
        edge, why, fmt = tile
        whole = (
            _whole_tiles(rows, info.shape[0], edge, depth),
            _whole_tiles(cols, info.shape[1], edge, depth),
        )
        if whole != (rows, cols):
            notes.append(
                msg.ALIGNED_TO_OUTPUT.format(
                    rows=whole[0],
                    cols=whole[1],
                    was_rows=rows,
                    was_cols=cols,
                    edge=edge,
                    kind=io.backend(fmt).label,
                    why=why,
                )
            )
            native = info.native_chunks
            if aligned is not None and any(
                w < n and w % c for w, n, c in zip(whole, info.shape, native)
            ):
                # The output's tiles won: the input's tiles no longer fit the chunks.
                notes[aligned] = notes[aligned].replace(msg.READS_ITS_OWN, msg.READS_NEIGHBOURS)
        rows, cols = whole
    return plan_grid(info.shape[0], rows, depth), plan_grid(info.shape[1], cols, depth)
