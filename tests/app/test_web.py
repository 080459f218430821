"""The web page in headless Chromium: upload the astronaut, wait for the result, check the
3D view and the sliders, move one slider and wait for the re-posed render."""

from __future__ import annotations

import shutil
import socket

import imageio.v3 as iio
import pytest
import skimage.data
from PIL import Image

from hiface_jax.app import backends, web

TIMEOUT = 480  # s: generous (27 s alone; a loaded 2-core machine is several times slower); waits poll the DOM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url(fit_assets):
    page = web.FacePage(backends.FitBackend(fit_assets, landmark_steps=60))
    port = _free_port()
    demo = web.serve(page, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    driver_path, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    assert driver_path and chromium, "install Debian's chromium and chromium-driver (launch/setup.sh does)"
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def test_upload_result_3d_view_and_sliders(page_url, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.5)
    find = lambda css: browser.find_elements(By.CSS_SELECTOR, css)
    browser.get(page_url)
    wait.until(lambda _: find("#photo input[type=file]"))
    find("#photo input[type=file]")[0].send_keys(str(photo))
    wait.until(lambda _: find("#summary img") and "reconstructed" in find("#status")[0].text)
    wait.until(lambda _: find("#model3d canvas"))
    ranges = find("[id^=slider-] input[type=range]")
    assert len(ranges) == len(web.SLIDERS)
    brows = find("#slider-brows-up input[type=range]")[0]
    ActionChains(browser).move_to_element_with_offset(brows, int(brows.size["width"] * 0.4), 0).click().perform()
    wait.until(lambda _: find("#posed img") and "re-posed" in find("#status")[0].text)
    assert float(find("#slider-brows-up input[type=number]")[0].get_attribute("value")) > 0.6
    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    assert iio.imread(shot).shape[1] >= 1000


def test_page_errors_are_messages(fit_assets):
    page = web.FacePage(backends.FitBackend(fit_assets, landmark_steps=60))
    with pytest.raises(web.PageError, match="reconstruct a photo first"):
        page.pose({}, {"smile": 1.0})
    with pytest.raises(web.PageError, match="no face"):
        page.reconstruct(skimage.data.coffee())
