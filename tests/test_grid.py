"""The zero-filled H3 study grid, counts and neighbour matrices."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely

from hotspots.errors import ParameterError
from hotspots.grid import (
    count_cells,
    distance_band_weights,
    grid_frame,
    ring_weights,
    study_cells,
)

BOX = shapely.box(-0.20, 51.40, -0.18, 51.42)
CENTRE = h3.latlng_to_cell(51.41, -0.19, 9)


def test_study_cells_are_the_cells_centred_in_the_area_plus_included():
    cells = study_cells(BOX, 9)
    for c in cells:
        lat, lng = h3.cell_to_latlng(c)
        assert BOX.contains(shapely.Point(lng, lat))
    outside = h3.latlng_to_cell(51.45, -0.10, 9)
    more = study_cells(BOX, 9, include=[outside])
    assert set(more) == set(cells) | {outside}
    assert list(more) == sorted(more)


def test_study_cells_rejects_unknown_resolution():
    with pytest.raises(ParameterError, match="'res' needs to be one of"):
        study_cells(BOX, 12)


def test_counts_are_zero_filled_and_ignore_cells_outside_the_grid():
    cells = sorted(h3.grid_disk(CENTRE, 1))
    far = h3.latlng_to_cell(51.6, 0.0, 9)
    y = count_cells(cells, [CENTRE, CENTRE, cells[0], far])
    assert y.sum() == 3
    assert y[cells.index(CENTRE)] == 2
    assert (y == 0).sum() == len(cells) - 2  # empty cells are kept, with zero
    w = count_cells(cells, [CENTRE, cells[0]], weights=[365.0, 1.0])
    assert w[cells.index(CENTRE)] == 365.0


def test_ring_weights_are_binary_symmetric_with_zero_diagonal():
    cells = sorted(h3.grid_disk(CENTRE, 2))
    W = ring_weights(cells, 1)
    assert W.shape == (19, 19)
    assert (W != W.T).nnz == 0
    assert W.diagonal().sum() == 0
    card = np.asarray(W.sum(axis=1)).ravel()
    assert card[cells.index(CENTRE)] == 6
    assert card.min() == 3  # a corner of the outer ring has 3 neighbours in the grid
    W2 = ring_weights(cells, 2)
    assert np.asarray(W2.sum(axis=1)).ravel()[cells.index(CENTRE)] == 18


def test_ring_weights_rejects_bad_k():
    with pytest.raises(ParameterError, match="'k' needs to be a whole number"):
        ring_weights([CENTRE], 0)


def test_distance_band_matches_the_first_ring_for_interior_cells():
    cells = sorted(h3.grid_disk(CENTRE, 3))
    W = ring_weights(cells, 1)
    D = distance_band_weights(cells, 400)  # res-9 centres are ~300 m apart
    inner = [cells.index(c) for c in h3.grid_disk(CENTRE, 1)]
    assert (W[inner] != D[inner]).nnz == 0


def test_grid_frame_polygons_contain_their_centres():
    cells = sorted(h3.grid_disk(CENTRE, 1))
    g = grid_frame(cells)
    assert g.crs.to_epsg() == 4326
    for c, poly in zip(g["h3"], g.geometry, strict=True):
        lat, lng = h3.cell_to_latlng(c)
        assert poly.contains(shapely.Point(lng, lat))


def test_a_kept_grid_reads_back_its_polygons_and_neighbours(tmp_path):
    """The store's grid cache keeps cell polygons and k-ring neighbours beside
    the cells: read back, they equal what is computed; a damaged or mismatched
    file is computed again."""
    import numpy as np

    from hotspots.grid import Grid

    ids = Grid.of(shapely.box(-0.20, 51.40, -0.18, 51.42), 10).ids
    stem = tmp_path / "g"
    made = Grid(10, ids).keep_at(stem)
    W, wkb = made.weights(1), made.wkb()
    assert (tmp_path / "g.ring1.npz").is_file() and (tmp_path / "g.wkb.arrow").is_file()
    plain = Grid(10, ids)  # no files: computed
    kept = Grid(10, ids).keep_at(stem)  # read back
    assert (kept.weights(1) != plain.weights(1)).nnz == 0
    assert (plain.weights(1) != W).nnz == 0
    assert kept.wkb().equals(plain.wkb()) and wkb.equals(plain.wkb())
    assert kept.weights(1).has_sorted_indices
    # another grid's files (other cells) or junk are not used
    (tmp_path / "g.ring1.npz").write_bytes(b"junk")
    other = Grid(10, ids[:-5]).keep_at(stem)
    assert other.wkb().equals(Grid(10, ids[:-5]).wkb())
    assert (Grid(10, ids).keep_at(stem).weights(1) != plain.weights(1)).nnz == 0
    assert np.array_equal(other.ids, ids[:-5])
    # an index whose arrays are out of range is computed again, not trusted
    np.savez(tmp_path / "h.ring1.npz", indptr=np.r_[0, np.full(len(ids), 2)],
             indices=np.array([0, len(ids) + 3]))
    again = Grid(10, ids).keep_at(tmp_path / "h").neighbours(1)
    assert np.array_equal(again.indices, plain.neighbours(1).indices)


def test_neighbours_are_the_ring_weights_without_scipy():
    """The grid's neighbour arrays are the k-ring matrix's pattern, rows sorted."""
    import numpy as np

    from hotspots.grid import Grid

    cells = sorted(h3.grid_disk(CENTRE, 3))
    grid = Grid.from_cells(cells)
    for k in (1, 2):
        nb = grid.neighbours(k)
        W = ring_weights(cells, k)
        assert nb.shape == W.shape and nb.nnz == W.nnz
        assert np.array_equal(nb.indptr, W.indptr)
        assert np.array_equal(nb.indices, W.indices)
        assert (grid.weights(k) != W).nnz == 0
    nb = grid.neighbours(1)
    centre = cells.index(CENTRE)
    row = nb.indices[nb.indptr[centre]:nb.indptr[centre + 1]]
    assert sorted(cells[j] for j in row) == sorted(set(h3.grid_disk(CENTRE, 1))
                                                  - {CENTRE})


def test_cell_text_and_ids_convert_as_h3_does():
    """Cell ids and their text convert without an H3 library (the text is the id
    in hex); h3-py is the reference, and anything not a cell's 15 hex digits is
    left to h3ronpy; what it refuses is named in a parameter error."""
    import numpy as np

    from hotspots.grid import cell_ids, cell_strings

    cells = sorted(h3.grid_disk(CENTRE, 4)) + [h3.latlng_to_cell(-33.9, 151.2, 15),
                                               h3.latlng_to_cell(64.1, -21.9, 0)]
    ref = np.array([h3.str_to_int(c) for c in cells], np.uint64)
    assert np.array_equal(cell_ids(cells), ref)
    assert np.array_equal(cell_ids([c.upper() for c in cells]), ref)
    assert cell_strings(ref).tolist() == [h3.int_to_str(int(i)) for i in ref]
    from hotspots.errors import ParameterError

    for bad in (["not a cell"], [CENTRE + "f"], [CENTRE[:-1]], ["0" * 15]):
        with pytest.raises(ParameterError, match=f"1 of the cells given are not H3 "
                           f"cell ids: {bad[0]}$"):
            cell_ids([CENTRE, *bad])
