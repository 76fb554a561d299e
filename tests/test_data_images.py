"""Images: ZIPs of class folders or with a label file; every format, grey or colour, mixed sizes → one size."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.archive import safe_members
from engine.data.cleaning import clean_dataset
from engine.data.ingest import add_dataset, inspect_zip, load_index
from engine.data.prepare import prepare_dataset
from engine.data.transform import transform_inputs
from engine.errors import DataError


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(colour, size=(24, 20), mode="RGB") -> Image.Image:
    image = Image.new("RGB", size, colour)
    image.paste((255, 255, 255), (2, 2, 8, 8))  # a white mark, so pictures are not flat
    return image.convert(mode)


def every_format() -> dict[str, bytes]:
    """Two classes, each in PNG, JPEG, BMP, animated GIF, grey and transparent, in mixed sizes."""
    members = {}
    for label, colour in (("apples", (200, 30, 30)), ("limes", (40, 190, 40))):
        members[f"fruit/{label}/a.png"] = encoded(picture(colour, (24, 20)), "PNG")
        members[f"fruit/{label}/b.jpg"] = encoded(picture(colour, (48, 40)), "JPEG", quality=95)
        members[f"fruit/{label}/c.bmp"] = encoded(picture(colour, (12, 10)), "BMP")
        frames = [picture(colour, (24, 20)), picture((0, 0, 0), (24, 20))]
        members[f"fruit/{label}/d.gif"] = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
        members[f"fruit/{label}/e.png"] = encoded(picture(colour, (30, 30), "L"), "PNG")
        members[f"fruit/{label}/f.png"] = encoded(picture(colour, (24, 20), "RGBA"), "PNG")
        for i in range(4):
            members[f"fruit/{label}/g{i}.webp"] = encoded(picture(colour, (20 + i, 20)), "WEBP")
    members["fruit/README.txt"] = b"fruit pictures"
    members["__MACOSX/fruit/._a.png"] = b"junk"
    return members


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_class_folders_in_every_format_become_one_size(home, tmp_path):
    path = write_zip(tmp_path / "fruit.zip", every_format())
    found = inspect_zip(path)
    assert (found["images"], found["classes"], found["how"]) == (20, 2, "folders")
    assert "folder's name is taken as the class" in found["label_reason"]
    dataset = add_dataset(path)
    report = dataset["quality_report"]
    assert (dataset["kind"], dataset["task"], dataset["n_rows"], dataset["n_classes"]) == ("image", "classification", 20, 2)
    assert report["class_counts"] == {"apples": 10, "limes": 10}
    assert report["formats"].keys() == {"PNG", "JPEG", "BMP", "GIF", "WEBP"}
    assert report["animated"] == 2 and report["unreadable"] == []
    assert report["other_files"] == ["fruit/README.txt"]
    assert dataset["schema"]["channels"] == 3  # colour wins over the grey ones
    assert {p["code"] for p in report["problems"]} >= {"mixed_sizes", "mixed_colour", "animated"}
    data = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    height, width = dataset["schema"]["height"], dataset["schema"]["width"]
    assert data.spec == {"kind": "image", "task": "classification", "channels": 3, "height": height,
                         "width": width, "n_outputs": 2, "mean": data.preprocessing["mean"],
                         "std": data.preprocessing["std"]}
    x = np.concatenate([data.arrays[s][0] for s in ("train", "validation", "test")])
    assert x.dtype == np.float32 and x.shape == (20, 3, height, width)
    train = data.arrays["train"][0]
    assert np.allclose(train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    assert np.allclose(train.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert data.arrays["train"][1].dtype == np.int64


def test_the_first_frame_of_a_gif_and_white_behind_transparency(home, tmp_path):
    frames = [Image.new("RGB", (8, 8), (250, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 250))]
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    members = {"a/anim.gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
               "b/clear.png": encoded(clear, "PNG")}
    members |= {f"a/{i}.png": encoded(frames[0], "PNG") for i in range(5)}
    members |= {f"b/{i}.png": encoded(clear, "PNG") for i in range(5)}
    dataset = add_dataset(write_zip(tmp_path / "frames.zip", members))
    data = prepare_dataset(dataset, 0.25, 0.25, seed=0)
    prep = data.preprocessing
    gif = transform_inputs(prep, [members["a/anim.gif"]])
    red = transform_inputs(prep, [Image.new("RGB", (8, 8), (250, 0, 0))])
    assert np.allclose(gif, red, atol=0.05)
    white = transform_inputs(prep, [Image.new("RGB", (8, 8), (255, 255, 255))])
    assert np.allclose(transform_inputs(prep, [members["b/clear.png"]]), white)


def test_all_grey_images_have_one_channel(home, tmp_path):
    members = {f"{label}/{i}.png": encoded(picture(colour, (16, 16), "L"), "PNG")
               for label, colour in (("dark", (40, 40, 40)), ("light", (200, 200, 200))) for i in range(5)}
    dataset = add_dataset(write_zip(tmp_path / "grey.zip", members))
    assert dataset["schema"]["channels"] == 1
    assert prepare_dataset(dataset, 0.2, 0.2, seed=0).spec["channels"] == 1


def test_images_with_a_label_file(home, tmp_path):
    members = {}
    rows = ["file,label"]
    for i in range(12):
        colour, label = ((220, 20, 20), "stop") if i % 2 else ((20, 220, 20), "go")
        members[f"pics/img{i}.png"] = encoded(picture(colour, (10, 10)), "PNG")
        rows.append(f"img{i}.png,{label}")
    rows.append("missing.png,go")
    members["pics/extra.png"] = encoded(picture((0, 0, 0), (10, 10)), "PNG")
    members["labels.csv"] = "\n".join(rows).encode()
    dataset = add_dataset(write_zip(tmp_path / "lights.zip", members))
    report = dataset["quality_report"]
    assert dataset["schema"]["how"] == "label file"
    assert report["class_counts"] == {"go": 6, "stop": 6}
    assert report["missing_files"] == ["missing.png"]
    assert report["skipped"] == [{"file": "pics/extra.png", "why": "not listed in 'labels.csv'"}]
    assert "labels.csv" in report["detected"]["target_reason"]
    assert {"missing_files", "unlabelled"} <= {p["code"] for p in report["problems"]}


def test_pictures_in_one_folder_named_by_their_class(home, tmp_path):
    """Pets and cats-and-dogs sets keep every picture in one folder, named by its class: 'cat.3.jpg',
    'great_pyrenees_12.png'. The start of each name is the class; a name that holds none is skipped and said."""
    members = {f"train/{name}": encoded(picture(colour, (10, 10)), "PNG") for i in range(6)
               for name, colour in ((f"cat.{i}.png", (200, 30, 30)), (f"great_pyrenees_{i}.png", (30, 30, 200)),
                                    (f"Abyssinian ({i}).png", (30, 200, 30)))}
    members["train/notes.png"] = encoded(picture((0, 0, 0), (10, 10)), "PNG")
    members["train/Cat.6.png"] = encoded(picture((200, 30, 30), (10, 10)), "PNG")  # one class, however spelled
    dataset = add_dataset(write_zip(tmp_path / "pets.zip", members))
    report = dataset["quality_report"]
    assert dataset["schema"]["how"] == "names"
    assert report["class_counts"] == {"Abyssinian": 6, "cat": 7, "great_pyrenees": 6}
    assert report["skipped"] == [{"file": "train/notes.png", "why": "its name does not start with a class"}]
    assert "the start of each file's name is taken as its class" in report["detected"]["target_reason"]
    camera = {f"photos/{name}_{i:04d}.png": encoded(picture((9 * i, 0, 0), (10, 10)), "PNG") for i in range(8)
              for name in ("IMG", "DSC")}
    with pytest.raises(DataError, match="only one class"):  # what a camera names a picture is no class
        add_dataset(write_zip(tmp_path / "holiday.zip", camera))


def test_size_is_suggested_chosen_and_changed_in_a_new_version(home, tmp_path):
    path = write_zip(tmp_path / "fruit.zip", every_format())
    small = add_dataset(path, name="small", image_size=(12, 16))
    assert (small["schema"]["height"], small["schema"]["width"]) == (12, 16)
    assert small["quality_report"]["detected"]["size_reason"] == "you chose it"
    bigger = clean_dataset(small, {"step": "resize", "height": 20, "width": 20})
    assert bigger["parent_id"] == small["id"] and (bigger["schema"]["height"], bigger["schema"]["width"]) == (20, 20)
    assert prepare_dataset(bigger, 0.2, 0.2, seed=0).spec["height"] == 20
    assert prepare_dataset(small, 0.2, 0.2, seed=0, image_size=(8, 8)).spec["width"] == 8
    assert (Path(small["files_path"]) / "pixels-8x8.npy").exists()  # kept for the next run


def test_unreadable_images_are_skipped_then_dropped_in_one_click(home, tmp_path):
    members = every_format() | {"fruit/apples/cut.png": every_format()["fruit/apples/a.png"][:60],
                                "fruit/limes/text.jpg": b"hello"}
    dataset = add_dataset(write_zip(tmp_path / "fruit.zip", members))
    assert dataset["n_rows"] == 20 and len(dataset["quality_report"]["unreadable"]) == 2
    assert len(load_index(dataset)) == 22
    cleaned = clean_dataset(dataset, {"step": "drop_unreadable"})
    assert len(load_index(cleaned)) == 20 and cleaned["quality_report"]["unreadable"] == []
    assert cleaned["quality_report"]["before"]["unreadable_images"] == 2
    assert "unreadable" not in {p["code"] for p in cleaned["quality_report"]["problems"]}
    first = prepare_dataset(dataset, 0.2, 0.2, seed=1)
    second = prepare_dataset(cleaned, 0.2, 0.2, seed=1)
    assert np.array_equal(first.arrays["test"][0], second.arrays["test"][0])


def test_label_spellings_in_folder_names_can_be_merged(home, tmp_path):
    members = {f"{label}/{i}.png": encoded(picture(colour, (10, 10)), "PNG")
               for label, colour in (("Cat", (10, 10, 10)), ("cat", (20, 20, 20)), ("dog", (200, 200, 200)))
               for i in range(6)}
    dataset = add_dataset(write_zip(tmp_path / "pets.zip", members))
    assert "label_spellings" in {p["code"] for p in dataset["quality_report"]["problems"]}
    merged = clean_dataset(dataset, {"step": "merge_labels"})
    assert merged["quality_report"]["class_counts"] in ({"Cat": 12, "dog": 6}, {"cat": 12, "dog": 6})


def test_prediction_applies_the_same_steps_as_training(home, tmp_path):
    members = every_format()
    path = write_zip(tmp_path / "fruit.zip", members)
    dataset = add_dataset(path)
    data = prepare_dataset(dataset, 0.2, 0.2, seed=0)
    index = load_index(dataset)
    readable = index[index["readable"]].sort_values("pixel_row").reset_index(drop=True)
    from engine.data.splits import split_indices

    rows = split_indices(readable["label"], len(readable), 0.2, 0.2, 0)["test"]
    raw = [members[name] for name in readable.loc[rows, "file"]]
    again = transform_inputs(data.preprocessing, raw)
    assert np.allclose(again, data.arrays["test"][0], atol=1e-5)
    files = []
    for i, data_bytes in enumerate(raw):
        file = tmp_path / f"{i}.img"
        file.write_bytes(data_bytes)
        files.append(str(file))
    assert np.allclose(transform_inputs(data.preprocessing, files), again)


@pytest.mark.parametrize("size", [(3, 3), (600, 32)])
def test_a_size_out_of_bounds_is_refused(home, tmp_path, size):
    from engine.errors import DataError

    with pytest.raises(DataError, match="between 4 and 512 pixels"):
        add_dataset(write_zip(tmp_path / "fruit.zip", every_format()), image_size=size)


@pytest.mark.slow
def test_many_images_are_decoded_by_helper_processes_with_the_same_result(tmp_path, monkeypatch):
    from engine.data import images
    from engine.data.image_layout import is_image_name

    members = every_format() | {"fruit/limes/broken.png": b"\x89PNG broken"}
    path = write_zip(tmp_path / "fruit.zip", members)
    with zipfile.ZipFile(path) as archive:
        infos = [info for info in safe_members(archive) if is_image_name(info.filename)]
        alone = images.decode_members(archive, infos, 16, 16)
        monkeypatch.setattr(images, "PARALLEL_FROM", 0)
        monkeypatch.setattr(images.os, "cpu_count", lambda: 3)
        shared = images.decode_files(path, archive, infos, 16, 16)
    assert np.array_equal(alone[0], shared[0])
    assert alone[1] == shared[1]
    assert sum(not record["readable"] for record in shared[1]) == 1
