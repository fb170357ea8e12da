"""tools/data/extract_frames.py on small videos written with PyAV, a broken one among them."""

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from mmaction_tdsclip.datasets.annotation_lists import read_annotation_list
from mmaction_tdsclip.datasets.synthetic import read_frame_index

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'data' / 'extract_frames.py'
SYNTHETIC = ROOT / 'mmaction_tdsclip' / 'datasets' / 'synthetic.py'
COUNTS = {'vp9/a.webm': 23, 'h264.mp4': 17, 'vp8.webm': 9, 'tail.mkv': 11}

# Loads synthetic.py alone: importing the package (torch, mmaction) takes seconds.
_WRITE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location('synthetic', sys.argv[2])
synthetic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(synthetic)
write_video = synthetic.write_video
root = sys.argv[1]
write_video(f'{root}/vp9/a.webm', 23, 48, 64, codec='libvpx-vp9')
write_video(f'{root}/h264.mp4', 17, 48, 64)
write_video(f'{root}/vp8.webm', 9, 32, 48, codec='libvpx')
write_video(f'{root}/tail.mkv', 11, 32, 48)
full = write_video(f'{root}/full.mp4', 40, 48, 64, faststart=True)
data = open(full, 'rb').read()
open(f'{root}/truncated.mp4', 'wb').write(data[: len(data) * 6 // 10])
open(f'{root}/text.webm', 'w').write('not a video\\n' * 50)
"""


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('extract')
    video_dir = root / 'videos'
    # libvpx encoders fail in a process that imported decord: write elsewhere.
    subprocess.run(
        [sys.executable, '-c', _WRITE, str(video_dir), str(SYNTHETIC)],
        check=True,
        cwd=str(ROOT),
        timeout=120,
    )
    (root / 'sthv2_train_list_videos.txt').write_text(
        'vp9/a.webm 3\ntext.webm 5\n\nh264.mp4 0\ntruncated.mp4 1\nvp8.webm 2\n'
    )
    (root / 'sthv2_val_list_videos.txt').write_text('tail.mkv\nh264.mp4\n')  # no labels
    return root


def _run(root, *extra):
    args = [sys.executable, str(TOOL), str(root / 'videos'), str(root / 'frames'), '--lists']
    args += [str(root / 'sthv2_train_list_videos.txt'), str(root / 'sthv2_val_list_videos.txt')]
    result = subprocess.run(
        [*args, *extra], capture_output=True, text=True, timeout=300, cwd=str(root)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sequential_decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]


@pytest.fixture(scope='module')
def extracted(videos):
    return videos, _run(videos, '--workers', '2')


def test_lists_hold_the_decoded_frame_counts(extracted):
    root, out = extracted
    train = (root / 'sthv2_train_list_rawframes.txt').read_text().splitlines()
    assert train == ['vp9/a 23 3', 'h264 17 0', 'vp8 9 2']
    val = (root / 'sthv2_val_list_rawframes.txt').read_text().splitlines()
    assert val == ['tail 11', 'h264 17']
    # The lists read back in the raw-frame format (the label-less one too).
    assert read_annotation_list(str(root / 'sthv2_val_list_rawframes.txt'), 'rawframes')
    assert 'sthv2_train_list_rawframes.txt: 3 of 5 videos' in out


def test_broken_videos_are_listed_and_do_not_stop_the_run(extracted):
    root, out = extracted
    failed = (root / 'frames' / 'extract_frames_failed.txt').read_text()
    for name in ('text.webm', 'truncated.mp4'):
        assert name in out and name in failed
        assert not (root / 'frames' / Path(name).stem).exists()
    assert '2 video(s) could not be decoded' in out
    assert 'h264.mp4' not in failed


@pytest.mark.parametrize('video', sorted(COUNTS))
def test_every_frame_in_order(extracted, video):
    root, _ = extracted
    folder = root / 'frames' / Path(video).with_suffix('')
    names = sorted(p.name for p in folder.glob('*.jpg'))
    assert names == [f'img_{i:05d}.jpg' for i in range(1, COUNTS[video] + 1)]
    assert (folder / '.extracted').read_text().strip() == str(COUNTS[video])
    reference = _sequential_decode(root / 'videos' / video)
    assert len(reference) == COUNTS[video]
    for i, expected in enumerate(reference):
        jpeg = np.asarray(Image.open(folder / f'img_{i + 1:05d}.jpg').convert('RGB'))
        assert jpeg.shape == expected.shape
        assert read_frame_index(jpeg) == i
        assert np.abs(jpeg.astype(int) - expected).mean() < 2.0  # JPEG quality 95


def test_rerun_skips_finished_videos_and_redoes_unfinished_ones(extracted):
    root, _ = extracted
    done = root / 'frames' / 'vp9' / 'a' / 'img_00001.jpg'
    redo = root / 'frames' / 'h264'
    before = done.stat().st_mtime_ns
    # An interrupted extraction: no marker, a frame short, a stray frame.
    (redo / '.extracted').unlink()
    (redo / 'img_00017.jpg').unlink()
    (redo / 'img_00099.jpg').write_bytes(b'partial')
    out = _run(root)
    assert '(3 were already done)' in out
    assert done.stat().st_mtime_ns == before
    assert sorted(p.name for p in redo.glob('*.jpg'))[-1] == 'img_00017.jpg'
    assert not (redo / 'img_00099.jpg').exists()
    assert (root / 'sthv2_val_list_rawframes.txt').read_text().splitlines() == [
        'tail 11',
        'h264 17',
    ]
