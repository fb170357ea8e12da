"""MMAction2 annotation lists from the official dataset annotation files.

The command-line front ends live in ``tools/data/``. Outputs:

- video lists: one ``<file> <label>`` line per video (``VideoDataset``);
- raw-frame lists: one ``<folder> <num_frames> <label>`` line per video
  (``RawframeDataset``);
- label maps: one class name per line, line ``i`` naming label ``i``.
"""

import csv
import json
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

Entry = Tuple[str, int]


# ------------------------------------------------------------------ common
def write_label_map(names: Sequence[str], path: str) -> None:
    """One class name per line, in label order."""
    _makedirs_for(path)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(''.join(f'{name}\n' for name in names))


def read_label_map(path: str) -> List[str]:
    """Class names of a label map file (one per line)."""
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def write_video_list(entries: Iterable[Entry], path: str) -> int:
    """``<file> <label>`` lines; returns the number written."""
    _makedirs_for(path)
    count = 0
    with open(path, 'w', encoding='utf-8') as f:
        for name, label in entries:
            f.write(f'{name} {label}\n')
            count += 1
    return count


def write_rawframe_list(entries: Iterable[Tuple[str, int, int]], path: str) -> int:
    """``<folder> <num_frames> <label>`` lines; returns the number written."""
    _makedirs_for(path)
    count = 0
    with open(path, 'w', encoding='utf-8') as f:
        for name, num_frames, label in entries:
            f.write(f'{name} {num_frames} {label}\n')
            count += 1
    return count


def _makedirs_for(path: str) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)


# SSv2 templates bracket the object slots: 'Putting [something] onto [something]'.
_BRACKETS = re.compile(r'\[([^\]]*)\]')
_SIDE = re.compile(r'\b(left|right)\b', re.IGNORECASE)


def derive_flip_label_map(names: Sequence[str]) -> Dict[int, int]:
    """Labels that trade places under a horizontal flip.

    Two classes pair up when their names differ only by swapping the words
    "left" and "right" (e.g. "Pushing something from left to right" and
    "Pushing something from right to left").

    Returns:
        ``{label: partner}`` in both directions.
    """

    def swap(match: 're.Match') -> str:
        word = match.group(0)
        other = 'right' if word.lower() == 'left' else 'left'
        return other.capitalize() if word[0].isupper() else other

    index = {name.strip().lower(): i for i, name in enumerate(names)}
    mapping = {}
    for i, name in enumerate(names):
        if not _SIDE.search(name):
            continue
        partner = index.get(_SIDE.sub(swap, name).strip().lower())
        if partner is not None and partner != i:
            mapping[i] = partner
    return mapping


# ------------------------------------------------- Something class order
# The 174 Something-Something classes in the order of SSv2's
# ``something-something-v2-labels.json``, in SSv2's spelling. The authors of
# TDS-CLIP number the SSv1 classes in this order too (one label file serves
# both datasets, and the SSv2 flip map 86/87, 93/94, 166/167 with it), so a
# converted authors' SSv1 checkpoint expects SSv1 lists numbered this way.
STH_CLASS_ORDER_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'sth_class_order.txt')
SSV1_LABEL_ORDERS = ('csv', 'authors')


def read_sth_class_order() -> List[str]:
    """The shipped SSv2 class order (``STH_CLASS_ORDER_FILE``)."""
    return read_label_map(STH_CLASS_ORDER_FILE)


def authors_class_order_note(num_classes: int) -> Optional[str]:
    """What an authors' checkpoint with ``num_classes`` outputs needs of the
    annotation lists, or None when nothing special.

    174 outputs are Something-Something, numbered in SSv2's class order for
    SSv1 too: an SSv1 checkpoint scores near chance on lists numbered in the
    line order of ``something-something-v1-labels.csv``.
    """
    if num_classes != len(read_sth_class_order()):
        return None
    return (
        'Class order: 174 classes, numbered in the SSv2 order (something-something-v2-'
        'labels.json). SSv2 lists from tools/data/build_sthv2_annotations.py fit. For SSv1, '
        'build the lists with tools/data/build_sthv1_annotations.py --label-order authors '
        '(the default csv order scores near chance); see docs/weights.md.'
    )


def normalise_class_name(name: str) -> str:
    """A Something-Something class name in a form that ignores spelling.

    SSv1 and SSv2 write the same class differently: brackets (SSv2 templates
    ``[something]``), capitals (``Something``), curly quotes, spacing and a
    final full stop. ``'Putting [Something] onto  something.'`` ->
    ``'putting something onto something'``.
    """
    name = name.replace('\u2019', "'").replace('\u2018', "'")
    name = _BRACKETS.sub(r'\1', name).lower()
    return ' '.join(name.split()).rstrip('.').strip()


def order_like(names: Sequence[str], reference: Sequence[str], what: str = 'labels') -> List[str]:
    """``names`` rearranged into the order of ``reference``, matched by
    :func:`normalise_class_name`.

    Args:
        names: Class names to number (kept in their own spelling).
        reference: The same classes in the wanted order, any spelling.
        what: How to name ``names`` in errors (e.g. the file they come from).

    Raises:
        ValueError: naming every class of either side that has no match.
    """
    position = {}
    for i, ref in enumerate(reference):
        key = normalise_class_name(ref)
        if key in position:
            raise ValueError(f'the reference class order names {ref!r} twice')
        position[key] = i
    ordered: List[Optional[str]] = [None] * len(reference)
    unmatched = []
    for name in names:
        i = position.get(normalise_class_name(name))
        if i is None:
            unmatched.append(name)
        elif ordered[i] is not None:
            raise ValueError(f'{what}: {ordered[i]!r} and {name!r} are the same class')
        else:
            ordered[i] = name
    missing = [reference[i] for i, name in enumerate(ordered) if name is None]
    if unmatched or missing:
        lines = [f'{what}: the class names do not match the reference class order.']
        if unmatched:
            lines.append(f'  not in the reference order: {unmatched}')
        if missing:
            lines.append(f'  reference classes without a match in {what}: {missing}')
        lines.append(
            '  Check that the file is the official label list of this dataset (174 classes).'
        )
        raise ValueError('\n'.join(lines))
    return ordered


# ---------------------------------------------------------- Something V1
def read_sthv1_labels(path: str, label_order: str = 'csv') -> List[str]:
    """Class names of ``something-something-v1-labels.csv`` (one per line),
    in label order.

    Args:
        path: The official labels CSV.
        label_order: ``'csv'``: label ``i`` is line ``i`` of the CSV (the
            numbering of MMAction2's SSv1 recipes; flip map 2/4, 30/41,
            52/66). ``'authors'``: the SSv2 order of
            :func:`read_sth_class_order`, as the TDS-CLIP authors number SSv1
            (flip map 86/87, 93/94, 166/167).
    """
    names = read_label_map(path)
    if label_order == 'csv':
        return names
    if label_order == 'authors':
        return order_like(names, read_sth_class_order(), what=path)
    raise ValueError(f'label_order={label_order!r}; use one of {SSV1_LABEL_ORDERS}')


def read_sthv1_split(path: str) -> List[Tuple[str, str]]:
    """``something-something-v1-{train,validation}.csv``: ``<id>;<label
    name>`` per line. Returns ``(id, name)`` pairs."""
    pairs = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            video_id, sep, name = line.partition(';')
            if not sep:
                raise ValueError(f'{path}:{line_no}: expected "<id>;<label>", got {line!r}')
            pairs.append((video_id.strip(), name.strip()))
    return pairs


def count_frames(folder: str, filename_tmpl: str = '{:05}.jpg', start_index: int = 1) -> int:
    """Consecutive frame files ``filename_tmpl.format(start_index + k)``."""
    count = 0
    while osp.isfile(osp.join(folder, filename_tmpl.format(start_index + count))):
        count += 1
    return count


def build_sthv1_rawframe_list(
    split_csv: str, names: Sequence[str], frame_root: str, filename_tmpl: str = '{:05}.jpg'
) -> Tuple[List, List[str]]:
    """Raw-frame list entries of one SSv1 split.

    Args:
        split_csv: The split's official CSV.
        names: Class names (label order).
        frame_root: Folder of ``<id>/`` frame folders, to count the frames;
            a video whose folder is missing or empty is left out.
        filename_tmpl: Frame file names, numbered from 1.

    Returns:
        ``(id, num_frames, label)`` entries and the ids left out.
    """
    label_of = {name: i for i, name in enumerate(names)}
    entries, missing = [], []
    for video_id, name in read_sthv1_split(split_csv):
        if name not in label_of:
            raise KeyError(
                f'{split_csv}: label {name!r} of video {video_id} is not in the label list'
            )
        num_frames = count_frames(osp.join(frame_root, video_id), filename_tmpl)
        if num_frames == 0:
            missing.append(video_id)
            continue
        entries.append((video_id, num_frames, label_of[name]))
    return entries, missing


# ---------------------------------------------------------- Something V2


def sthv2_template_to_label(template: str) -> str:
    """``'Putting [something] onto [something]'`` ->
    ``'Putting something onto something'``: the template with its brackets
    removed, as the keys of ``something-something-v2-labels.json``."""
    return _BRACKETS.sub(r'\1', template).strip()


def read_sthv2_labels(path: str) -> List[str]:
    """``something-something-v2-labels.json`` (``{name: "index"}``) ->
    names in label order."""
    with open(path, encoding='utf-8') as f:
        mapping = json.load(f)
    names = [None] * len(mapping)
    for name, index in mapping.items():
        index = int(index)
        if not 0 <= index < len(mapping) or names[index] is not None:
            raise ValueError(
                f'{path}: labels are not 0..{len(mapping) - 1} (index {index} of {name!r})'
            )
        names[index] = name
    return names


def build_sthv2_video_list(
    split_json: str, names: Sequence[str], extension: str = 'webm'
) -> List[Entry]:
    """``(<id>.<extension>, label)`` entries of one SSv2 split
    (``something-something-v2-{train,validation}.json``)."""
    label_of = {name: i for i, name in enumerate(names)}
    with open(split_json, encoding='utf-8') as f:
        videos = json.load(f)
    entries = []
    for video in videos:
        name = sthv2_template_to_label(video['template'])
        if name not in label_of:
            raise KeyError(
                f'{split_json}: template {video["template"]!r} '
                f'(video {video["id"]}) is not in the label map'
            )
        entries.append((f'{video["id"]}.{extension}', label_of[name]))
    return entries


# ------------------------------------------------------------- Kinetics
def kinetics_video_name(
    youtube_id: str, time_start: str, time_end: str, extension: str = 'mp4'
) -> str:
    """``<youtube_id>_<start:06d>_<end:06d>.<extension>``."""
    return f'{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}.{extension}'


def read_kinetics_csv(path: str) -> List[Dict[str, str]]:
    """Rows of an official Kinetics CSV
    (``label,youtube_id,time_start,time_end,split[,is_cc]``)."""
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    required = {'label', 'youtube_id', 'time_start', 'time_end'}
    if rows and not required <= set(rows[0]):
        raise ValueError(f'{path}: expected columns {sorted(required)}, got {sorted(rows[0])}')
    return rows


def kinetics_class_names(rows: Iterable[Dict[str, str]]) -> List[str]:
    """Sorted class names (the order of MMAction2's ``label_map_k400.txt``
    and of the usual Kinetics label indices)."""
    return sorted({row['label'] for row in rows})


def build_kinetics_video_list(
    rows: Iterable[Dict[str, str]],
    names: Sequence[str],
    video_dir: Optional[str] = None,
    extension: str = 'mp4',
) -> Tuple[List[Entry], List[str]]:
    """``(file, label)`` entries; with ``video_dir``, videos missing there
    (Kinetics always has some) are left out and returned separately."""
    label_of = {name: i for i, name in enumerate(names)}
    entries, missing = [], []
    for row in rows:
        name = kinetics_video_name(row['youtube_id'], row['time_start'], row['time_end'], extension)
        if video_dir is not None and not osp.isfile(osp.join(video_dir, name)):
            missing.append(name)
            continue
        entries.append((name, label_of[row['label']]))
    return entries, missing
