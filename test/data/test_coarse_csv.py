"""BOP results CSV: a hand-written literal (the official layout) and a write/read round trip."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.data.coarse_csv import read_bop_results, write_bop_results

LITERAL = """scene_id,im_id,obj_id,score,R,t,time
48,1,1,0.9,1 0 0 0 1 0 0 0 1,10.5 -20 850,0.25
48,1,1,0.4,0 -1 0 1 0 0 0 0 1,0 0 1000,0.25

49,7,15,1.0,1 0 0 0 0 -1 0 1 0,-30 40 700.0,-1
"""


def test_reads_a_hand_written_literal(tmp_path):
    p = tmp_path / "posecnn_ycbv-test.csv"
    p.write_text(LITERAL)
    res = read_bop_results(p)
    assert sorted(res) == [(48, 1, 1), (49, 7, 15)]
    (s0, T0, t0), (s1, T1, _) = res[(48, 1, 1)]
    assert (s0, t0, s1) == (0.9, 0.25, 0.4)
    np.testing.assert_array_equal(T0[:3, :3], np.eye(3))
    np.testing.assert_allclose(T0[:3, 3], [0.0105, -0.020, 0.850])  # mm -> m
    np.testing.assert_array_equal(T0[3], [0, 0, 0, 1])
    np.testing.assert_array_equal(T1[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]])  # row-major
    score, T, time = res[(49, 7, 15)][0]
    np.testing.assert_array_equal(T[:3, :3], [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(T[:3, 3], [-0.03, 0.04, 0.7])
    assert score == 1.0 and time == -1.0


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k, R in enumerate(Rotation.random(5, random_state=1).as_matrix()):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, rng.normal(size=3) * 0.1 + [0, 0, 0.9]
        rows.append({"scene_id": 48 + k // 3, "im_id": k, "obj_id": 3, "score": 0.1 * k, "T_cam_obj": T, "time": 0.05})
    rows.append(dict(rows[0], score=0.7))  # a second estimate for the same key
    p = tmp_path / "out" / "deeprm_ycbv-test.csv"
    write_bop_results(p, rows)
    assert p.read_text().splitlines()[0] == "scene_id,im_id,obj_id,score,R,t,time"
    res = read_bop_results(p)
    assert sum(len(v) for v in res.values()) == 6
    for r in rows[:5]:
        score, T, time = res[(r["scene_id"], r["im_id"], r["obj_id"])][0]
        np.testing.assert_allclose(T, r["T_cam_obj"], atol=1e-7)
        assert score == pytest.approx(r["score"]) and time == pytest.approx(0.05)
    assert [s for s, _, _ in res[(48, 0, 3)]] == [0.0, 0.7]


@pytest.mark.parametrize("bad,message", [
    ("48,1,1,0.9,1 0 0 0 1 0 0 0,10 20 850,0.25", "R needs 9"),
    ("48,1,1,0.9,1 0 0 0 1 0 0 0 1,10 20,0.25", "t needs 3"),
    ("48,1,1,0.9,1 0 0 0 1 0 0 0 1,10 20 850", "expected 7 columns"),
    ("48,x,1,0.9,1 0 0 0 1 0 0 0 1,10 20 850,0.25", "invalid literal"),
    ("48,1,1,0.9,1 0 0 0 1 0 0 0 nan,10 20 850,0.25", "non-finite"),
])
def test_malformed_rows_name_file_and_line(tmp_path, bad, message):
    p = tmp_path / "bad.csv"
    p.write_text(LITERAL + bad + "\n")
    with pytest.raises(ValueError) as e:
        read_bop_results(p)
    assert f"{p}:6:" in str(e.value) and message in str(e.value)
