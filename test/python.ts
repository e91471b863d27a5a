/**
 * The Python interpreter the PyTorch tests run: Debian's, which has torch (1.13), numpy, Pillow and
 * pyflakes. The `python3` first on PATH may be another interpreter without them, so the path is
 * explicit; `UNET_STUDIO_PYTHON` points the tests at another one.
 */
export const PYTHON: string = process.env.UNET_STUDIO_PYTHON || '/usr/bin/python3';
