"""tools/data annotation builders on tiny files in the official formats."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from mmaction_tdsclip.datasets.annotations import (
    derive_flip_label_map,
    kinetics_video_name,
    read_label_map,
    sthv2_template_to_label,
)

TOOLS = Path(__file__).resolve().parents[2] / 'tools' / 'data'


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lines(path):
    return Path(path).read_text().splitlines()


# ------------------------------------------------------------------ SSv1
SSV1_LABELS = [
    'Holding something',
    'Pushing something from left to right',
    'Turning the camera left while filming something',
    'Pushing something from right to left',
    'Turning the camera right while filming something',
    'Putting something on a surface',
]


@pytest.fixture
def sthv1(tmp_path):
    anno = tmp_path / 'annotations'
    anno.mkdir()
    (anno / 'something-something-v1-labels.csv').write_text('\n'.join(SSV1_LABELS) + '\n')
    (anno / 'something-something-v1-train.csv').write_text(
        '100218;Holding something\n'
        '100219;Pushing something from right to left\n'
        '100220;Putting something on a surface\n'
    )
    (anno / 'something-something-v1-validation.csv').write_text(
        '200001;Turning the camera right while filming something\n'
    )
    frames = tmp_path / 'rawframes'
    for video_id, count in (('100218', 3), ('100219', 5), ('200001', 2)):
        (frames / video_id).mkdir(parents=True)
        for i in range(1, count + 1):
            (frames / video_id / f'{i:05}.jpg').write_bytes(b'jpg')
    # A stray file after a gap is not a frame of the sequence.
    (frames / '100219' / '00009.jpg').write_bytes(b'jpg')
    return tmp_path


def test_sthv1_lists(sthv1, capsys):
    out = sthv1 / 'out'
    load_tool('build_sthv1_annotations').main(
        [
            str(sthv1 / 'annotations'),
            '--frame-root',
            str(sthv1 / 'rawframes'),
            '--out-dir',
            str(out),
        ]
    )
    # 100220 has no frame folder: left out and reported.
    assert lines(out / 'sthv1_train_list_rawframes.txt') == ['100218 3 0', '100219 5 3']
    assert lines(out / 'sthv1_val_list_rawframes.txt') == ['200001 2 4']
    assert read_label_map(str(out / 'sthv1_label_map.txt')) == SSV1_LABELS
    printed = capsys.readouterr().out
    assert '1 without frames left out (first: 100220)' in printed
    assert 'flip_label_map = {1: 3, 2: 4, 3: 1, 4: 2}' in printed


def test_sthv1_unknown_label(sthv1):
    (sthv1 / 'annotations' / 'something-something-v1-validation.csv').write_text('200001;Dancing\n')
    with pytest.raises(KeyError, match='Dancing'):
        load_tool('build_sthv1_annotations').main(
            [
                str(sthv1 / 'annotations'),
                '--frame-root',
                str(sthv1 / 'rawframes'),
                '--out-dir',
                str(sthv1 / 'out'),
            ]
        )


# ------------------------------------------------------------------ SSv2
@pytest.fixture
def sthv2(tmp_path):
    anno = tmp_path / 'annotations'
    anno.mkdir()
    labels = {
        'Approaching something with your camera': '0',
        'Putting number of something onto something': '3',
        'Pulling something from left to right': '1',
        'Pulling something from right to left': '2',
        'Moving part of something': '4',
    }
    (anno / 'something-something-v2-labels.json').write_text(json.dumps(labels, indent=1))
    train = [
        {
            'id': '78687',
            'label': 'putting 3 coins onto a book',
            'template': 'Putting [number of] [something] onto [something]',
            'placeholders': ['3', 'coins', 'a book'],
        },
        {
            'id': '42326',
            'label': 'pulling a pen from left to right',
            'template': 'Pulling [something] from left to right',
            'placeholders': ['a pen'],
        },
        {
            'id': '100',
            'label': 'moving lid of a jar',
            'template': 'Moving [part] of [something]',
            'placeholders': ['lid', 'a jar'],
        },
    ]
    validation = [
        {
            'id': '74225',
            'label': 'approaching a cup with your camera',
            'template': 'Approaching [something] with your camera',
            'placeholders': ['a cup'],
        },
    ]
    (anno / 'something-something-v2-train.json').write_text(json.dumps(train))
    (anno / 'something-something-v2-validation.json').write_text(json.dumps(validation))
    return tmp_path


def test_sthv2_lists(sthv2, capsys):
    out = sthv2 / 'out'
    load_tool('build_sthv2_annotations').main(
        [str(sthv2 / 'annotations'), '--out-dir', str(out), '--flip-map']
    )
    assert lines(out / 'sthv2_train_list_videos.txt') == [
        '78687.webm 3',
        '42326.webm 1',
        '100.webm 4',
    ]
    assert lines(out / 'sthv2_val_list_videos.txt') == ['74225.webm 0']
    assert read_label_map(str(out / 'sthv2_label_map.txt')) == [
        'Approaching something with your camera',
        'Pulling something from left to right',
        'Pulling something from right to left',
        'Putting number of something onto something',
        'Moving part of something',
    ]
    assert 'flip_label_map = {1: 2, 2: 1}' in capsys.readouterr().out


def test_sthv2_mp4_extension(sthv2):
    out = sthv2 / 'out'
    load_tool('build_sthv2_annotations').main(
        [str(sthv2 / 'annotations'), '--out-dir', str(out), '--ext', 'mp4']
    )
    assert lines(out / 'sthv2_val_list_videos.txt') == ['74225.mp4 0']


def test_sthv2_bad_label_indices(sthv2):
    (sthv2 / 'annotations' / 'something-something-v2-labels.json').write_text(
        json.dumps({'a': '0', 'b': '0'})
    )
    with pytest.raises(ValueError, match='not 0..1'):
        load_tool('build_sthv2_annotations').main(
            [str(sthv2 / 'annotations'), '--out-dir', str(sthv2 / 'out')]
        )


def test_template_brackets_removed():
    assert sthv2_template_to_label('Putting [something] onto [something]') == (
        'Putting something onto something'
    )
    assert sthv2_template_to_label('Showing [something] behind [something]') == (
        'Showing something behind something'
    )


# --------------------------------------------------------------- Kinetics
@pytest.fixture
def kinetics(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'label,youtube_id,time_start,time_end,split,is_cc\n'
        'abseiling,-3B32lodo2M,59,69,train,0\n'
        'zumba,--07WQ2iBlw,1,11,train,0\n'
        '"passing American football (in game)",abc_DEF-123,5.0,15.0,'
        'train,0\n'
        'abseiling,gone_video1,0,10,train,0\n'
    )
    (tmp_path / 'validate.csv').write_text(
        'label,youtube_id,time_start,time_end,split\nzumba,xyz,120,130,val\n'
    )
    videos = tmp_path / 'videos_train'
    videos.mkdir()
    for name in (
        '-3B32lodo2M_000059_000069.mp4',
        '--07WQ2iBlw_000001_000011.mp4',
        'abc_DEF-123_000005_000015.mp4',
    ):
        (videos / name).write_bytes(b'mp4')
    return tmp_path


def test_kinetics_lists(kinetics, capsys):
    out = kinetics / 'out'
    load_tool('build_kinetics_annotations').main(
        [
            str(kinetics / 'train.csv'),
            str(kinetics / 'validate.csv'),
            '--out-dir',
            str(out),
            '--train-dir',
            str(kinetics / 'videos_train'),
        ]
    )
    # Classes sorted: abseiling 0, passing American football (in game) 1,
    # zumba 2. gone_video1 is not on disk.
    assert lines(out / 'kinetics3_train_list_videos.txt') == [
        '-3B32lodo2M_000059_000069.mp4 0',
        '--07WQ2iBlw_000001_000011.mp4 2',
        'abc_DEF-123_000005_000015.mp4 1',
    ]
    assert lines(out / 'kinetics3_val_list_videos.txt') == ['xyz_000120_000130.mp4 2']
    assert read_label_map(str(out / 'kinetics3_label_map.txt')) == [
        'abseiling',
        'passing American football (in game)',
        'zumba',
    ]
    assert '1 missing from' in capsys.readouterr().out


def test_kinetics_without_video_dirs_keeps_all(kinetics):
    out = kinetics / 'out'
    load_tool('build_kinetics_annotations').main(
        [
            str(kinetics / 'train.csv'),
            str(kinetics / 'validate.csv'),
            '--out-dir',
            str(out),
            '--prefix',
            'kinetics400',
        ]
    )
    assert len(lines(out / 'kinetics400_train_list_videos.txt')) == 4
    assert lines(out / 'kinetics400_train_list_videos.txt')[-1] == (
        'gone_video1_000000_000010.mp4 0'
    )


def test_kinetics_unknown_val_class(kinetics):
    (kinetics / 'validate.csv').write_text(
        'label,youtube_id,time_start,time_end,split\nskiing,q,1,2,val\n'
    )
    with pytest.raises(SystemExit, match='skiing'):
        load_tool('build_kinetics_annotations').main(
            [
                str(kinetics / 'train.csv'),
                str(kinetics / 'validate.csv'),
                '--out-dir',
                str(kinetics / 'out'),
            ]
        )


def test_kinetics_video_name():
    assert kinetics_video_name('a-b_c', '7', '17.0') == 'a-b_c_000007_000017.mp4'


# -------------------------------------------------------------- flip map
def test_flip_map_derivation():
    names = [
        'Pushing something from left to right',
        'Holding something',
        'Pushing something from right to left',
        'Turning the camera Left while filming something',
        'Turning the camera right while filming something',
        'Tearing something into two pieces',
        'Moving something left',
    ]
    assert derive_flip_label_map(names) == {0: 2, 2: 0, 3: 4, 4: 3}


def test_lists_load_in_mmaction_datasets(sthv2, tmp_path):
    from mmaction.datasets import VideoDataset

    out = sthv2 / 'out'
    load_tool('build_sthv2_annotations').main([str(sthv2 / 'annotations'), '--out-dir', str(out)])
    dataset = VideoDataset(
        str(out / 'sthv2_train_list_videos.txt'), pipeline=[], data_prefix=dict(video='/videos')
    )
    info = dataset.get_data_info(0)
    assert info['filename'] == os.path.join('/videos', '78687.webm')
    assert info['label'] == 3


# ------------------------------------------------ SSv1 in the authors' order
SSV2_FLIP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}


def _ssv1_spelling(name):
    """SSv1's labels CSV capitalises some "Something"s where SSv2 does not."""
    return name.replace('something', 'Something', 1) if len(name) % 3 == 0 else name


@pytest.fixture
def sthv1_full(tmp_path):
    """The 174 classes in SSv1's spelling in a labels CSV of its own order,
    and an SSv2 labels JSON in the official format ({name: "index"}, keys
    not in index order)."""
    from mmaction_tdsclip.datasets.annotations import read_sth_class_order

    order = read_sth_class_order()
    # An order of its own (the real CSV's is neither sorted nor SSv2's).
    ssv1 = sorted((_ssv1_spelling(name) for name in order), key=lambda name: name[::-1])
    anno = tmp_path / 'annotations'
    anno.mkdir()
    (anno / 'something-something-v1-labels.csv').write_text('\n'.join(ssv1) + '\n')
    lifting, pulling, camera = (order[i] for i in (27, 86, 167))
    (anno / 'something-something-v1-train.csv').write_text(
        f'1;{_ssv1_spelling(lifting)}\n2;{_ssv1_spelling(pulling)}\n'
    )
    (anno / 'something-something-v1-validation.csv').write_text(f'3;{_ssv1_spelling(camera)}\n')
    frames = tmp_path / 'rawframes'
    for video_id in '123':
        (frames / video_id).mkdir(parents=True)
        (frames / video_id / '00001.jpg').write_bytes(b'jpg')
    labels_json = {name: str(i) for i, name in enumerate(order)}
    shuffled = dict(sorted(labels_json.items(), key=lambda kv: len(kv[0])))
    (anno / 'something-something-v2-labels.json').write_text(json.dumps(shuffled))
    return tmp_path, ssv1


def _build_sthv1(root, *extra):
    load_tool('build_sthv1_annotations').main(
        [
            str(root / 'annotations'),
            '--frame-root',
            str(root / 'rawframes'),
            '--out-dir',
            str(root / 'out'),
            *extra,
        ]
    )


def test_shipped_class_order():
    from mmaction_tdsclip.datasets.annotations import read_sth_class_order

    order = read_sth_class_order()
    assert len(order) == len(set(order)) == 174
    # Facts of the authors' label file: the SSv2 flip pairs and two of the
    # places where it is not a plain sort.
    assert derive_flip_label_map(order) == SSV2_FLIP
    assert order[86] == 'Pulling something from left to right'
    assert order[27] == 'Lifting something up completely without letting it drop down'
    assert sum(a != b for a, b in zip(order, sorted(order))) == 10


def test_sthv1_authors_order(sthv1_full, capsys):
    from mmaction_tdsclip.datasets.annotations import read_sthv2_labels

    root, ssv1 = sthv1_full
    _build_sthv1(root, '--label-order', 'authors')
    out = root / 'out'
    names = read_label_map(str(out / 'sthv1_label_map.txt'))
    # SSv1's own spelling, numbered like SSv2's labels JSON.
    assert sorted(names) == sorted(ssv1)
    ssv2 = read_sthv2_labels(str(root / 'annotations' / 'something-something-v2-labels.json'))
    assert [sthv2_template_to_label(n).lower() for n in ssv2] == [n.lower() for n in names]
    # The CSV's line of "Lifting ... without letting it drop down" is not 27.
    lifting = _ssv1_spelling('Lifting something up completely without letting it drop down')
    assert ssv1.index(lifting) != 27
    assert lines(out / 'sthv1_train_list_rawframes.txt') == ['1 1 27', '2 1 86']
    assert lines(out / 'sthv1_val_list_rawframes.txt') == ['3 1 167']
    printed = capsys.readouterr().out
    assert 'in authors order' in printed
    assert f'flip_label_map = {SSV2_FLIP}' in printed


def test_sthv1_csv_order_keeps_line_numbers(sthv1_full, capsys):
    from mmaction_tdsclip.datasets.annotations import read_sth_class_order

    root, ssv1 = sthv1_full
    _build_sthv1(root)  # --label-order csv is the default
    assert read_label_map(str(root / 'out' / 'sthv1_label_map.txt')) == ssv1
    lifting = ssv1.index(_ssv1_spelling(read_sth_class_order()[27]))
    pulling = ssv1.index(_ssv1_spelling('Pulling something from left to right'))
    assert lines(root / 'out' / 'sthv1_train_list_rawframes.txt') == [
        f'1 1 {lifting}',
        f'2 1 {pulling}',
    ]
    flip = derive_flip_label_map(ssv1)
    assert ssv1[flip[pulling]] == _ssv1_spelling('Pulling something from right to left')
    assert flip != SSV2_FLIP
    assert f'flip_label_map = {flip}' in capsys.readouterr().out


def test_sthv1_authors_order_names_unmatched_classes(sthv1_full):
    root, ssv1 = sthv1_full
    renamed = ['Dancing with something' if name.startswith('Wiping') else name for name in ssv1]
    (root / 'annotations' / 'something-something-v1-labels.csv').write_text(
        '\n'.join(renamed) + '\n'
    )
    with pytest.raises(ValueError) as info:
        _build_sthv1(root, '--label-order', 'authors')
    message = str(info.value)
    assert 'something-something-v1-labels.csv' in message
    assert "'Dancing with something'" in message
    assert "'Wiping something off of something'" in message


def test_class_order_note_for_authors_checkpoints():
    from mmaction_tdsclip.datasets.annotations import authors_class_order_note

    assert '--label-order authors' in authors_class_order_note(174)
    assert authors_class_order_note(400) is None
