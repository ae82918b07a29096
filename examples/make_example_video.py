"""Rebuild examples/street.mp4 from OpenCV's sample video ``vtest.avi``, as Debian packages it.

    apt-get download opencv-doc && dpkg -x opencv-doc_*.deb opencv-doc
    python examples/make_example_video.py opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi

Frames 560-709 (15 s at 10 frames/s, 768x576): people walking at several distances, a woman close to the
camera, people passing behind the lamp post, the tripod and each other. Licence: see examples/LICENSES.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from occlupose.video import VideoWriter, probe, read_frames

FIRST, LAST = 560, 710


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vtest", help="path of vtest.avi from Debian's opencv-doc package")
    p.add_argument("-o", "--output", default=str(Path(__file__).with_name("street.mp4")))
    args = p.parse_args()
    info = probe(args.vtest)
    with VideoWriter(args.output, info.fps, info.width, info.height, crf=26) as w:
        for _, _, frame in read_frames(args.vtest, FIRST, LAST):
            w.write(frame)
    print(f"wrote {args.output}: frames {FIRST}-{LAST - 1} of {args.vtest}")


if __name__ == "__main__":
    main()
