"""The web page in headless Chromium: upload the astronaut, wait for the result, check the
3D view and the sliders, move one slider and wait for the re-posed render."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request

import imageio.v3 as iio
import pytest
import skimage.data
from helpers import free_port, repo_env
from PIL import Image

from hiface_jax.app import backends, web
from hiface_jax.fit import fitting

TIMEOUT = 480  # s: generous (about 30 s alone; a loaded 2-core machine is several times slower); waits poll


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the page is on this machine


class Server:
    """``python -m launch.demo`` in its own process (as users start it), its output in a file."""

    def __init__(self, repo: pathlib.Path, basis: str, log: pathlib.Path):
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}/"
        args = [
            "--detail_basis",
            basis,
            "--landmark_steps",
            "60",
            "--set",
            "photometric_steps=3",
            "--port",
            str(self.port),
        ]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "launch.demo", *args], cwd=repo, env=repo_env(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"launch.demo exited ({self.proc.returncode}):\n{self.tail()}"
            try:
                with _NO_PROXY.open(self.url, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"launch.demo not serving after {TIMEOUT} s:\n{self.tail()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(repo, small_detail_basis, tmp_path_factory):
    demo = Server(repo, small_detail_basis, tmp_path_factory.mktemp("demo") / "server.log")
    try:
        demo.wait_until_serving()
        yield demo
    finally:
        demo.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    driver_path, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    assert driver_path and chromium, "install Debian's chromium and chromium-driver (launch/setup.sh does)"
    options = Options()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console lines for failure messages
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _waiter(browser, server: Server):
    """``wait(what, predicate)``: polls the DOM; on timeout fails with what the page showed."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def seen(what: str, predicate) -> bool:
        errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".toast-body.error")]
        # an error toast fails the test now, not at TIMEOUT
        assert not errors, f"{what}: the page shows an error: {errors}; server log:\n{server.tail()}"
        return bool(predicate())

    def wait(what: str, predicate) -> None:
        start = time.monotonic()
        try:
            WebDriverWait(browser, TIMEOUT, poll_frequency=0.5).until(lambda _: seen(what, predicate))
        except TimeoutException:
            status = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#status")]
            console = [entry.get("message", "") for entry in browser.get_log("browser")][-10:]
            raise AssertionError(
                f"{what}: not seen after {time.monotonic() - start:.0f} s; page status {status}; console {console};"
                f" server log:\n{server.tail()}"
            ) from None

    return wait


def test_upload_result_3d_view_and_sliders(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    wait = _waiter(browser, server)
    find = lambda css: browser.find_elements(By.CSS_SELECTOR, css)
    status = lambda: " ".join(e.text for e in find("#status"))
    browser.get(server.url)
    wait("the photo input", lambda: find("#photo input[type=file]"))
    find("#photo input[type=file]")[0].send_keys(str(photo))
    wait("the result image and 'reconstructed'", lambda: find("#summary img") and "reconstructed" in status())
    wait("the 3D view's canvas", lambda: find("#model3d canvas"))
    ranges = find("[id^=slider-] input[type=range]")
    assert len(ranges) == len(web.SLIDERS)
    # A click at 40 % right of the slider's centre (0.9), looked up afresh and repeated until the value
    # moves: the layout still shifts while the 3D view starts, and a click once landed off the slider.
    value = lambda: float(find("#slider-brows-up input[type=number]")[0].get_attribute("value"))
    for _ in range(10):
        brows = find("#slider-brows-up input[type=range]")[0]
        ActionChains(browser).move_to_element_with_offset(brows, int(brows.size["width"] * 0.4), 0).click().perform()
        deadline = time.monotonic() + 5
        while value() <= 0.6 and time.monotonic() < deadline:
            time.sleep(0.25)
        if value() > 0.6:
            break
    assert value() > 0.6, f"the brows-up slider did not move after 10 clicks; server log:\n{server.tail()}"
    wait("the re-posed image and 're-posed'", lambda: find("#posed img") and "re-posed" in status())
    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    assert iio.imread(shot).shape[1] >= 1000


def test_page_errors_are_messages(fit_assets):
    page = web.FacePage(
        backends.FitBackend(fit_assets, config=fitting.FitConfig(landmark_steps=60, photometric_steps=3))
    )
    with pytest.raises(web.PageError, match="reconstruct a photo first"):
        page.pose({}, {"smile": 1.0})
    with pytest.raises(web.PageError, match="no face"):
        page.reconstruct(skimage.data.coffee())
