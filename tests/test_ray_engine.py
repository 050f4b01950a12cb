"""predict --engine ray: a Ray Data pipeline on a local Ray instance with 2 CPUs writes exactly the table of the
local engine (same rows, same order), and resumes like it."""

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("tensorflow")

from serving_fixtures import tiny_tree  # noqa: E402

from taxoclass.cli.main import main  # noqa: E402
from taxoclass.jobs import predict_job  # noqa: E402
from taxoclass.jobs.stream import ImageFiles  # noqa: E402


@pytest.mark.slow
def test_ray_pipeline_writes_the_local_table(tmp_path):
    model, paths = tiny_tree(tmp_path, n_images=10)
    folder = paths[0].parent.parent
    local = tmp_path / "local.csv"
    predict_job(model, ImageFiles(folder=folder), local, threshold=0.4, top_k=2, chunk_size=4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray.csv"
        assert main(["predict", str(model), "--dir", str(folder), "--threshold", "0.4", "--top-k", "2",
                     "--chunk-size", "4", "--engine", "ray", "-o", str(out)]) == 0
        assert out.read_text() == local.read_text()
    finally:
        ray.shutdown()
