"""taxoclass serve: the real server in a subprocess on a free loopback port, spoken to over HTTP (httpx).

Answers equal ``predict_proba`` / ``predict_path`` on the same image files; bad uploads get clear JSON errors and
the server keeps serving; 200 requests from 16 concurrent clients are all answered correctly, in fewer model
calls than requests (micro-batching)."""

import asyncio
import io

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("tensorflow")

from serving_fixtures import start_server, stop_server, tiny_tree, wait_until_up  # noqa: E402

from taxoclass.jobs import images_dataset, unlabelled_images  # noqa: E402
from taxoclass.models import load_model  # noqa: E402

MAX_IMAGES = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, fitted model, image paths, reference probabilities of those files)."""
    folder = tmp_path_factory.mktemp("serve")
    model, paths = tiny_tree(folder, n_images=8)
    proc, url = start_server(model, "--max-images", str(MAX_IMAGES), "--max-upload-mb", "0.05",
                             "--batch-window-ms", "20")
    try:
        clf = load_model(model)  # while the server starts
        ref = clf.predict_proba(images_dataset(unlabelled_images(paths), clf, with_labels=False))
        wait_until_up(proc, url)
        yield url, clf, paths, ref
    finally:
        stop_server(proc)


def _files(paths):
    return [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]


def _proba(pred, classes):
    """The full class distribution of one answer asked with top_k = number of classes."""
    got = {t["class"]: t["probability"] for t in pred["top_k"]}
    return np.array([got[c] for c in classes])


def test_predictions_equal_predict_proba(served):
    url, clf, paths, ref = served
    tax = clf.taxonomy_
    r = httpx.post(f"{url}/predict", files=_files(paths[:MAX_IMAGES]),
                   params={"top_k": len(tax.classes), "threshold": 0.4}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "soft" and body["threshold"] == 0.4
    sure = tax.threshold(ref[:MAX_IMAGES], 0.4)
    node_p = tax.node_proba(ref[:MAX_IMAGES])
    for i, pred in enumerate(body["predictions"]):
        assert pred["file"] == paths[i].name
        np.testing.assert_allclose(_proba(pred, clf.classes_), ref[i], atol=1e-5)
        assert pred["class"] == clf.classes_[ref[i].argmax()]
        assert [lv["name"] for lv in pred["lineage"]] == tax.lineage(pred["class"])
        assert pred["lineage"][-1]["probability"] == pytest.approx(pred["probability"])
        assert pred["sure"]["node"] == tax.nodes[sure[i]][-1]
        assert pred["sure"]["probability"] == pytest.approx(node_p[i, sure[i]], abs=1e-5)


def test_greedy_mode_equals_predict_path(served):
    url, clf, paths, _ = served
    X = np.stack([np.asarray(x) for x in images_dataset(unlabelled_images(paths[:3]), clf, with_labels=False)
                  .unbatch()])
    r = httpx.post(f"{url}/predict", files=_files(paths[:3]), params={"mode": "greedy", "threshold": 0.3},
                   timeout=60)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    path = clf.predict_path(X, mode="greedy")
    assert [p["class"] for p in preds] == clf.predict(X, mode="greedy").tolist()
    assert [p["sure"]["node"] for p in preds] == clf.predict(X, mode="greedy", threshold=0.3).tolist()
    np.testing.assert_allclose([p["probability"] for p in preds], path["p_level_2"], atol=1e-5)
    assert all(len(p["top_k"]) == 1 for p in preds)


def test_risk_mode_ranks_by_expected_severity(served):
    url, clf, paths, ref = served
    tax = clf.taxonomy_
    r = httpx.post(f"{url}/predict", files=_files(paths[:MAX_IMAGES]), params={"mode": "risk", "top_k": 2},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "risk"
    order = tax.ranked_classes(ref[:MAX_IMAGES], "risk")  # the cheapest class, then the others by probability
    assert (order[:, 0] == tax.expected_severity(ref[:MAX_IMAGES]).argmin(axis=1)).all()
    for i, pred in enumerate(r.json()["predictions"]):
        assert [t["class"] for t in pred["top_k"]] == clf.classes_[order[i, :2]].tolist()
        assert pred["probability"] == pytest.approx(ref[i, order[i, 0]], abs=1e-5)  # that class's probability


def test_model_health_page_and_docs(served):
    url, clf, _, _ = served
    info = httpx.get(f"{url}/model").json()
    assert info["classes"] == clf.classes_.tolist()
    assert info["lineage"]["red_left"] == ["red", "red_left"]
    assert info["input_spec"] == clf.input_spec()
    assert info["modes"] == ["soft", "greedy", "risk"] and info["limits"]["max_images"] == MAX_IMAGES
    assert info["taxonomy"]["classes"] == clf.classes_.tolist() and info["taxoclass_version"]
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "<form" in page.text and "predict" in page.text
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/predict", "/model", "/health"} <= set(spec["paths"])
    assert httpx.get(f"{url}/docs").status_code == 200


def test_bad_uploads_get_json_errors_and_the_server_keeps_serving(served, tmp_path):
    url, clf, paths, ref = served
    png = paths[0].read_bytes()
    cases = [
        ([("files", ("notes.txt", b"hello, not an image\n", "text/plain"))], {}, 415, "not_an_image", "notes.txt"),
        ([("files", ("cut.png", png[: len(png) // 2], "image/png"))], {}, 400, "broken_image", "cut.png"),
        ([("files", ("empty.png", b"", "image/png"))], {}, 400, "broken_image", "empty.png"),
        ([*_files(paths[:1]), ("files", ("b.txt", b"\x00\x01garbage", "image/png"))], {}, 415, "not_an_image",
         "files[1]"),
        (_files(paths[:MAX_IMAGES + 1]), {}, 400, "too_many_images", f"at most {MAX_IMAGES}"),
        ([("files", ("huge.png", b"\x89PNG" + bytes(80_000), "image/png"))], {}, 413, "upload_too_large", "limit"),
        (_files(paths[:1]), {"top_k": 9}, 400, "bad_top_k", "top_k=9"),
    ]
    for files, params, status, code, named in cases:
        r = httpx.post(f"{url}/predict", files=files, params=params, timeout=60)
        assert r.status_code == status, (code, r.text)
        assert r.json()["error"] == code and named in r.json()["detail"]
    r = httpx.post(f"{url}/predict", files=_files(paths[:1]), params={"threshold": 1.5}, timeout=60)
    assert r.status_code == 422 and "threshold" in r.text
    assert httpx.post(f"{url}/predict", data={"x": "1"}, timeout=60).status_code == 422  # no files
    r = httpx.post(f"{url}/predict", files=_files(paths[1:2]), params={"top_k": 4}, timeout=60)
    assert r.status_code == 200  # still serving, and still right
    np.testing.assert_allclose(_proba(r.json()["predictions"][0], clf.classes_), ref[1], atol=1e-5)


def test_200_requests_at_16_concurrent_all_correct_and_batched(served):
    url, clf, paths, ref = served
    expected = clf.classes_[ref.argmax(axis=1)]
    before = httpx.get(f"{url}/health").json()

    async def main():
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=16)) as client:
            async def one(i):
                k = i % len(paths)
                async with sem:
                    r = await client.post(f"{url}/predict", files=_files([paths[k]]), params={"top_k": 4})
                return k, r
            return await asyncio.gather(*(one(i) for i in range(200)))

    answers = asyncio.run(main())
    assert all(r.status_code == 200 for _, r in answers)
    for k, r in answers:
        pred = r.json()["predictions"][0]
        assert pred["file"] == paths[k].name and pred["class"] == expected[k]
        np.testing.assert_allclose(_proba(pred, clf.classes_), ref[k], atol=1e-5)
    after = httpx.get(f"{url}/health").json()
    assert after["requests"] - before["requests"] == 200 and after["images"] - before["images"] == 200
    assert after["model_calls"] - before["model_calls"] < 200  # concurrent requests shared model calls
    assert after["largest_batch"] > 1


def test_prepare_upload_equals_the_input_pipeline(served):
    """An uploaded file becomes exactly the array the training/predict pipeline makes of the same file."""
    from PIL import Image

    from taxoclass.serve.images import BadUpload, prepare_upload

    _, clf, paths, _ = served
    spec = {**clf.input_spec(), "image_size": 12}  # a resize, not only a copy
    buf = io.BytesIO()
    Image.open(paths[0]).convert("RGBA").save(buf, "PNG")  # RGBA: the PIL conversion path
    from taxoclass.data import make_dataset

    for data, name in ((paths[0].read_bytes(), "plain"), (buf.getvalue(), "rgba")):
        f = paths[0].parent / f"{name}.png"
        f.write_bytes(data)
        want = next(iter(make_dataset(unlabelled_images([f]), with_labels=False, batch_size=1, cache=False,
                                      **spec)))[0].numpy()
        np.testing.assert_array_equal(prepare_upload(name, data, spec).astype(np.float32), want)
        f.unlink()
    with pytest.raises(BadUpload, match="holds text") as err:
        prepare_upload("t.txt", b"plain text", spec)
    assert err.value.status == 415
