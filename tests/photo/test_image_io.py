"""image_io against real files written by Pillow/OpenCV in every odd format."""

import pathlib
import struct
import zlib

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from hiface_jax.photo import image_io
from hiface_jax.photo.image_io import ImageReadError, list_images, read_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return skimage.data.astronaut()[::4, ::4].copy()  # (128, 128, 3) uint8


def _reason(path, **kwargs) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path, **kwargs)
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)
    return info.value.reason


def test_rgb_png_is_exact(tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, photo)


def test_grayscale_becomes_three_equal_channels(tmp_path, photo):
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == photo.shape
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_bilevel_image(tmp_path):
    Image.fromarray(np.eye(40, dtype=bool)).save(tmp_path / "b.png")
    out = read_image(tmp_path / "b.png")
    assert out.shape == (40, 40, 3)
    assert set(np.unique(out)) == {0, 255}


def test_rgba_composites_over_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere
    rgba[:, :10, 3] = 255  # opaque
    rgba[:, 10:20, 3] = 0  # transparent
    rgba[:, 20:, 3] = 128  # half
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png").astype(int)
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out[0, 15], [255, 255, 255])
    np.testing.assert_allclose(out[0, 30], [228, 127, 127], atol=1)


def test_gray_alpha_and_palette_transparency(tmp_path):
    la = np.zeros((40, 40, 2), np.uint8)  # black, left half transparent
    la[:, 20:, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert (out[:, :20] == 255).all() and (out[:, 20:] == 0).all()

    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    pal.paste(1, (0, 0, 20, 40))
    pal.save(tmp_path / "p.png", transparency=1)
    out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 30], [0, 0, 255])


def test_16_bit_gray_scaled_by_depth_not_clipped(tmp_path):
    ramp = np.tile(np.arange(0, 65536, 256, dtype=np.uint16), (40, 1))  # 256 w
    cv2.imwrite(str(tmp_path / "g16.png"), ramp)
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    out = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[0, :, 0], np.arange(256))
    np.testing.assert_array_equal(out[..., 1], out[..., 0])


def test_16_bit_rgb(tmp_path, photo):
    wide = photo.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "c16.png"), wide[..., ::-1])  # OpenCV is BGR
    np.testing.assert_array_equal(read_image(tmp_path / "c16.png"), photo)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:, :30] = (255, 0, 0)  # left half red, right half blue
    stored[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "o.jpg").astype(int)
    assert out.shape == (60, 40, 3)
    # Stored left edge becomes the displayed top edge.
    assert out[5, 20, 0] > 200 and out[5, 20, 2] < 60
    assert out[55, 20, 2] > 200 and out[55, 20, 0] < 60


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = read_image(tmp_path / "a.gif")
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])


def test_cmyk_jpeg(tmp_path, photo):
    Image.fromarray(photo).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = read_image(tmp_path / "c.jpg").astype(int)
    assert out.shape == photo.shape
    assert np.abs(out - photo).mean() < 8


def test_missing_file_and_directory(tmp_path):
    assert _reason(tmp_path / "nope.jpg") == "file not found"
    assert _reason(tmp_path) == "not a regular file"


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are not pixels\n" * 20)
    assert _reason(tmp_path / "notes.jpg") == "not a recognised image format"


def test_random_bytes(tmp_path):
    (tmp_path / "r.png").write_bytes(np.random.default_rng(0).bytes(5000))
    assert _reason(tmp_path / "r.png") == "not a recognised image format"


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path, photo, suffix):
    Image.fromarray(photo).save(tmp_path / f"full{suffix}")
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    assert _reason(tmp_path / f"cut{suffix}").startswith("corrupt or truncated")


def test_corrupt_png_data(tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "ok.png")
    data = bytearray((tmp_path / "ok.png").read_bytes())
    start = data.index(b"IDAT") + 100
    data[start : start + 200] = bytes(200)  # damages the stream, breaks its CRC
    (tmp_path / "bad.png").write_bytes(bytes(data))
    assert _reason(tmp_path / "bad.png").startswith("corrupt or truncated")


def test_too_small(tmp_path):
    Image.new("RGB", (20, 64)).save(tmp_path / "t.png")
    assert _reason(tmp_path / "t.png").startswith("too small: 20x64")
    assert read_image(tmp_path / "t.png", min_side=16).shape == (64, 20, 3)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_huge_is_downscaled_keeping_aspect(tmp_path, suffix):
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 300:] = 255
    Image.fromarray(image).save(tmp_path / f"h{suffix}")
    out = read_image(tmp_path / f"h{suffix}", max_pixels=100 * 50)
    assert out.shape[0] * out.shape[1] <= 100 * 50
    assert out.shape[:2] == (50, 100)
    assert out[:, :45].max() < 30 and out[:, 55:].min() > 225


def _png_header_only(path: pathlib.Path, width: int, height: int) -> None:
    """A PNG that declares a size but holds no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_refused_before_decoding(tmp_path):
    _png_header_only(tmp_path / "bomb.png", 40000, 40000)
    assert _reason(tmp_path / "bomb.png").startswith("too large")
    _png_header_only(tmp_path / "big.png", 400, 400)
    reason = _reason(tmp_path / "big.png", max_decode_pixels=1000)
    assert reason.startswith("too large: 400x400")


def test_list_images_sorted_filtered(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.txt", ".hidden.jpg", "A2.jpeg", "sub/z.png", "sub/.x/y.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["A2.jpeg", "a.jpg", "b.PNG"]
    deep = list_images(tmp_path, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == ["A2.jpeg", "a.jpg", "b.PNG", "sub/z.png"]
    with pytest.raises(NotADirectoryError):
        list_images(tmp_path / "a.jpg")


def test_every_listed_suffix_is_read_back(tmp_path):
    """A folder lists what ``read_image`` can open: each suffix written by Pillow reads back as
    the same RGB pixels (the lossy formats on average within 8 levels; PGM as grey)."""
    rgb = np.zeros((40, 48, 3), np.uint8)
    rgb[:, :24] = (200, 30, 60)
    rgb[:20, 24:] = (10, 220, 90)
    for suffix in sorted(image_io.IMAGE_SUFFIXES):
        path = tmp_path / f"x{suffix}"
        Image.fromarray(rgb).convert("L" if suffix == ".pgm" else "RGB").save(path)
        back = image_io.read_image(path)
        assert back.shape == rgb.shape and back.dtype == np.uint8, suffix
        expected = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB")) if suffix == ".pgm" else rgb
        error = np.abs(back.astype(int) - expected)
        lossy = suffix in (".jpg", ".jpeg", ".gif", ".webp")
        assert (error.mean() < 8 if lossy else error.max() == 0), (suffix, error.mean())
    assert {p.suffix for p in list_images(tmp_path)} == image_io.IMAGE_SUFFIXES


def test_default_limits_are_sane():
    assert image_io.DEFAULT_MIN_SIDE == 32
    assert image_io.DEFAULT_MAX_PIXELS < image_io.DEFAULT_MAX_DECODE_PIXELS
