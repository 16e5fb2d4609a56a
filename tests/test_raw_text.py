"""`tf-mlm mask` on raw text: WordPiece (HF tokenizers) and SentencePiece
tokenization, BERT's document layout, DOC-SENTENCES packing, words."""

import gzip
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Both are in the `test` extra: an environment without them is incomplete.
import sentencepiece as spm  # noqa: E402
import tokenizers  # noqa: E402

from tf_mlm import cli  # noqa: E402
from tf_mlm.pretraining import raw_text  # noqa: E402
from tf_mlm.pretraining.readers import InputError, SequenceReader  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a of to and in is was cat dog sat on mat bert learns deep bidirectional model "
    "mask token word piece train data fast kernel tensor graph batch row random seed "
    "jump run play read write quick brown fox lazy over under cafe resume"
).split()
PIECES = ["##s", "##ed", "##ing", "##er", "##ly", "##al"]
PUNCT = [".", ",", "!", "?", "'"]
VOCAB = SPECIALS + WORDS + [w.capitalize() for w in WORDS[:10]] + PIECES + PUNCT
CLS, SEP = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")


def _sentence(rng, n_words):
    words = []
    for _ in range(n_words):
        w = str(rng.choice(WORDS))
        r = rng.random()
        if r < 0.2:
            w += str(rng.choice(["s", "ed", "ing", "er", "ly"]))
        elif r < 0.25:
            w = w.upper()
        elif r < 0.3:
            w = "Café" if rng.random() < 0.5 else "résumé"
        elif r < 0.33:
            w = "zzyzx"  # no pieces: [UNK]
        words.append(w)
    return " ".join(words) + str(rng.choice(PUNCT[:4]))


def _documents(seed, n_docs, long_every=0):
    rng = np.random.default_rng(seed)
    docs = []
    for d in range(n_docs):
        n = int(rng.integers(1, 9))
        sents = [_sentence(rng, int(rng.integers(2, 14))) for _ in range(n)]
        if long_every and d % long_every == 0:
            sents.insert(1, _sentence(rng, 70))  # longer than the budget
        docs.append(sents)
    return docs


def _write(path, docs, blank="\n"):
    """One sentence per line, documents separated by blank lines (some of
    them several, some with spaces)."""
    text = ""
    for i, doc in enumerate(docs):
        text += "".join(s + "\n" for s in doc)
        text += blank if i % 3 else " \n\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    docs = _documents(0, 40, long_every=7)
    corpus = _write(root / "corpus.txt", docs)
    # A SentencePiece model trained here on a generated corpus: small and fast.
    rng = np.random.default_rng(1)
    lines = [_sentence(rng, int(rng.integers(3, 12))) for _ in range(600)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(root / "sp"),
        vocab_size=150,
        user_defined_symbols=["<mask>"],
        minloglevel=2,
    )
    return {
        "root": root,
        "vocab": vocab,
        "docs": docs,
        "corpus": corpus,
        "sp_model": root / "sp.model",
    }


def _hf_wordpiece(data, lower_case=True):
    return tokenizers.BertWordPieceTokenizer(str(data["vocab"]), lowercase=lower_case)


def _read(path, tokenizer, max_seq_length, **kwargs):
    reader = SequenceReader([str(path)], max_seq_length=max_seq_length, text_tokenizer=tokenizer)
    return list(reader), reader


def _expected_wordpiece(data, docs, lower_case=True):
    """Per document, per sentence: (ids, word lengths) as tokenizers gives them."""
    hf = _hf_wordpiece(data, lower_case)
    out = []
    for doc in docs:
        sents = []
        for enc in hf.encode_batch(doc, add_special_tokens=False):
            runs = np.flatnonzero(np.diff([-1] + list(enc.word_ids))) if enc.ids else []
            lengths = np.diff(np.append(runs, len(enc.ids)))
            sents.append((list(enc.ids), lengths.tolist()))
        out.append(sents)
    return out


def _expected_sentencepiece(model_path, docs):
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    out = []
    for doc in docs:
        sents = []
        for ids in sp.encode(doc, out_type=int):
            starts = [k == 0 or sp.id_to_piece(i).startswith("\u2581") for k, i in enumerate(ids)]
            lengths = np.diff(np.append(np.flatnonzero(starts), len(ids)))
            sents.append((ids, lengths.tolist()))
        out.append(sents)
    return out


def _check_structure(records, expected, max_seq_length, cls, sep):
    """BERT's structure: [CLS] ... [SEP], at most max_seq_length tokens, the
    sentences of one document in order (whole while they fit: greedy), ids
    and word lengths equal to the tokenizer library's."""
    budget = max_seq_length - 2
    recs = iter(records)
    for doc in expected:
        stream = [i for ids, _ in doc for i in ids]
        words = [w for _, lengths in doc for w in lengths]
        bounds = set(np.cumsum([0] + [len(ids) for ids, _ in doc]).tolist())
        long_sentence = any(len(ids) > budget for ids, _ in doc)
        pos, word_pos, prev_len = 0, 0, None
        while pos < len(stream):
            rec = next(recs)
            ids, lengths = rec.ids.tolist(), rec.word_lengths.tolist()
            assert ids[0] == cls and ids[-1] == sep and len(ids) <= max_seq_length, rec.where
            assert lengths[0] == 1 and lengths[-1] == 1 and sum(lengths) == len(ids)
            inner = ids[1:-1]
            assert inner == stream[pos : pos + len(inner)], rec.where  # one document, in order
            if not long_sentence:
                assert pos in bounds and pos + len(inner) in bounds, rec.where  # whole sentences
                n_words = len(lengths) - 2
                assert lengths[1:-1] == words[word_pos : word_pos + n_words], rec.where
                word_pos += n_words
                if prev_len is not None:  # the first sentence did not fit in the previous record
                    first = min(b for b in bounds if b > pos) - pos
                    assert prev_len + first > budget
            prev_len = len(inner)
            pos += len(inner)
    assert next(recs, None) is None


@pytest.mark.parametrize("max_seq_length", [16, 64, 128])
def test_wordpiece_records_have_bert_structure(data, max_seq_length):
    tok = raw_text.WordPieceTokenizer(VOCAB)
    records, reader = _read(data["corpus"], tok, max_seq_length)
    _check_structure(records, _expected_wordpiece(data, data["docs"]), max_seq_length, CLS, SEP)
    assert reader.formats == ["raw"]
    assert reader.stats.documents == len(data["docs"])
    assert reader.stats.sentences == sum(len(d) for d in data["docs"])
    assert reader.stats.records == len(records)


def test_wordpiece_words_are_the_tokenizers(data):
    """Without long sentences every record's words are the library's word_ids() runs."""
    docs = _documents(3, 12)
    path = _write(data["root"] / "short.txt", docs)
    records, _ = _read(path, raw_text.WordPieceTokenizer(VOCAB), 48)
    _check_structure(records, _expected_wordpiece(data, docs), 48, CLS, SEP)
    # "résumé" lower-cased and stripped of accents is one word of two pieces
    ids, lengths = _expected_wordpiece(data, [["résumé cafes"]])[0][0]
    assert [VOCAB[i] for i in ids] == ["resume", "cafe", "##s"] and lengths == [1, 2]


def test_no_lower_case_keeps_case(data):
    docs = [["The Cat sat on THE mat.", "Bert learns."], ["Café is a cat."]]
    path = _write(data["root"] / "cased.txt", docs)
    for lower in (True, False):
        records, _ = _read(path, raw_text.WordPieceTokenizer(VOCAB, lower_case=lower), 64)
        _check_structure(records, _expected_wordpiece(data, docs, lower), 64, CLS, SEP)
    cased, _ = _read(path, raw_text.WordPieceTokenizer(VOCAB, lower_case=False), 64)
    assert VOCAB.index("The") in cased[0].ids.tolist()


def test_long_sentences_are_cut_between_words(data):
    docs = [["a b c"], [_sentence(np.random.default_rng(2), 60), "the cat sat."]]
    path = _write(data["root"] / "long.txt", docs)
    records, _ = _read(path, raw_text.WordPieceTokenizer(VOCAB), 12)
    _check_structure(records, _expected_wordpiece(data, docs), 12, CLS, SEP)
    assert all(len(r.ids) <= 12 for r in records) and len(records) > 6
    # every cut falls between the library's words
    ids, lengths = _expected_wordpiece(data, docs)[1][0]
    word_ends = set(np.cumsum(lengths).tolist())
    pos = 0
    for rec in records[1:-1]:
        pos += len(rec.ids) - 2
        assert pos in word_ends
    # the tail of the long sentence is packed with the next sentence when it fits
    if records[-1].where.endswith(":5"):
        assert len(records[-2].ids) - 2 + 4 > 10
    else:
        assert records[-1].where.endswith(":4-5"), records[-1].where


def test_split_long_cuts_a_word_longer_than_the_budget():
    pieces = raw_text.split_long(np.arange(9), np.array([2, 5, 2]), 3)
    assert [p.tolist() for p, _ in pieces] == [[0, 1], [2, 3, 4], [5, 6], [7, 8]]
    assert [w.tolist() for _, w in pieces] == [[2], [3], [2], [2]]


def test_sentencepiece_records_have_bert_structure(data):
    tok = raw_text.SentencePieceTokenizer(str(data["sp_model"]))
    sp = spm.SentencePieceProcessor(model_file=str(data["sp_model"]))
    # no [CLS] / [SEP] pieces: the model's BOS and EOS (<s>, </s>)
    assert (tok.cls_id, tok.sep_id) == (sp.bos_id(), sp.eos_id())
    assert sp.id_to_piece(tok.cls_id) == "<s>" and sp.id_to_piece(tok.sep_id) == "</s>"
    docs = _documents(4, 15, long_every=5)
    path = _write(data["root"] / "sp.txt", docs)
    for max_seq_length in (20, 128):
        records, reader = _read(path, tok, max_seq_length)
        _check_structure(
            records,
            _expected_sentencepiece(data["sp_model"], docs),
            max_seq_length,
            tok.cls_id,
            tok.sep_id,
        )
        assert reader.stats.documents == len(docs)
    assert set(tok.special_ids) >= {sp.unk_id(), sp.bos_id(), sp.eos_id()}


def test_sentencepiece_model_with_cls_and_sep_pieces(data, tmp_path):
    rng = np.random.default_rng(5)
    lines = [_sentence(rng, 6) for _ in range(300)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(tmp_path / "albert"),
        vocab_size=120,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    tok = raw_text.SentencePieceTokenizer(str(tmp_path / "albert.model"))
    assert (tok.pieces[tok.cls_id], tok.pieces[tok.sep_id]) == ("[CLS]", "[SEP]")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(tmp_path / "t5"),
        vocab_size=120,
        bos_id=-1,
        minloglevel=2,
    )
    tok = raw_text.SentencePieceTokenizer(str(tmp_path / "t5.model"))
    with pytest.raises(InputError, match="neither \\[CLS\\] and \\[SEP\\] pieces nor BOS"):
        _read(data["corpus"], tok, 32)


def test_blocks_of_lines_do_not_change_the_records(data, monkeypatch):
    tok = raw_text.WordPieceTokenizer(VOCAB)
    whole, _ = _read(data["corpus"], tok, 32)
    monkeypatch.setattr(raw_text, "BATCH_LINES", 3)
    blocks, _ = _read(data["corpus"], tok, 32)
    assert [r.ids.tolist() for r in whole] == [r.ids.tolist() for r in blocks]
    assert [r.word_lengths.tolist() for r in whole] == [r.word_lengths.tolist() for r in blocks]
    assert [r.where for r in whole] == [r.where for r in blocks]
    # every byte of the input is counted for progress, but trailing blank lines
    size = len(data["corpus"].read_bytes())
    assert size - 3 <= sum(r.nbytes for r in whole) <= size


def test_format_detection(data, tmp_path):
    tok = raw_text.WordPieceTokenizer(VOCAB)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n2 10 11 3\n2 12 3\n")
    unknown = tmp_path / "corpus.en"
    unknown.write_bytes(data["corpus"].read_bytes())
    gz = tmp_path / "corpus.txt.gz"
    gz.write_bytes(gzip.compress(data["corpus"].read_bytes()))
    reader = SequenceReader(
        [str(ids), str(unknown), str(gz), str(data["corpus"])], text_tokenizer=tok
    )
    assert reader.formats == ["text", "raw", "raw", "raw"]
    # without a tokenizer: as before
    assert SequenceReader([str(ids), str(data["corpus"])]).formats == ["text", "text"]
    stdin = io.BytesIO(b"\nThe cat sat.\n\nA dog.\n")
    reader = SequenceReader(["-"], max_seq_length=16, text_tokenizer=tok, stdin=stdin)
    assert reader.formats == ["raw"]
    assert [[VOCAB[i] for i in r.ids] for r in reader] == [
        ["[CLS]", "the", "cat", "sat", ".", "[SEP]"],
        ["[CLS]", "a", "dog", ".", "[SEP]"],
    ]
    stdin = io.BytesIO(b"2 10 3\n")
    assert SequenceReader(["-"], text_tokenizer=tok, stdin=stdin).formats == ["text"]
    # named: an ids file read as raw text is text too
    assert SequenceReader([str(ids)], "raw", text_tokenizer=tok).formats == ["raw"]
    with pytest.raises(InputError, match="raw text input needs --vocab"):
        SequenceReader([str(data["corpus"])], "raw")


def test_reading_raw_text_does_not_import_tensorflow(data):
    code = f"""
        import sys
        from tf_mlm.pretraining import raw_text
        from tf_mlm.pretraining.readers import SequenceReader
        from tf_mlm.pretraining.vocab import Vocabulary
        tok = raw_text.WordPieceTokenizer(Vocabulary.load({str(data["vocab"])!r}).tokens)
        n = len(list(SequenceReader([{str(data["corpus"])!r}], max_seq_length=64,
                                    text_tokenizer=tok)))
        sp = raw_text.SentencePieceTokenizer({str(data["sp_model"])!r})
        n += len(list(SequenceReader([{str(data["corpus"])!r}], max_seq_length=64,
                                     text_tokenizer=sp)))
        assert "tensorflow" not in sys.modules
        print(n)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 0


# -- the command ---------------------------------------------------------------------


def _mask(data, out, *extra, inputs=None, vocab=("--vocab",)):
    model = [str(data["vocab"])] if vocab == ("--vocab",) else [str(data["sp_model"])]
    return cli.main(
        [
            "mask",
            *(inputs or [str(data["corpus"])]),
            "-o",
            str(out),
            *vocab,
            *model,
            "--progress",
            "none",
            *extra,
        ]
    )


def _unmasked(rec):
    ids = list(rec["input_ids"])
    for p, label in zip(rec["masked_lm_positions"], rec["masked_lm_ids"]):
        ids[p] = label
    return ids


def test_mask_raw_text_end_to_end_tfrecord(data, tmp_path, capsys):
    import tensorflow as tf

    from tf_mlm.pretraining import feature_spec

    out = tmp_path / "out"
    assert _mask(data, out, "--max-seq-length", "32", "--max-predictions-per-seq", "6") == 0
    expected, reader = _read(data["corpus"], raw_text.WordPieceTokenizer(VOCAB), 32)
    line = capsys.readouterr().out
    n_sent = sum(len(d) for d in data["docs"])
    assert f"wrote {len(expected)} records ({len(expected)} sequences x 1)" in line
    assert f"packed from {n_sent} sentences in {len(data['docs'])} documents" in line
    spec = feature_spec(32, 6)
    got = [
        {k: v.numpy() for k, v in tf.io.parse_single_example(r, spec).items()}
        for r in tf.data.TFRecordDataset(str(out / "masked-00000-of-00001.tfrecord"))
    ]
    assert len(got) == len(expected)
    for rec, want in zip(got, expected):
        n = int(rec["input_mask"].sum())
        k = int(rec["masked_lm_weights"].sum())
        unmasked = rec["input_ids"][:n].copy()
        unmasked[rec["masked_lm_positions"][:k]] = rec["masked_lm_ids"][:k]
        assert unmasked.tolist() == want.ids.tolist()
        assert unmasked[0] == CLS and unmasked[n - 1] == SEP
        assert not np.isin(rec["masked_lm_positions"][:k], [0, n - 1]).any()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input_formats"] == ["raw"]
    assert meta["text_tokenizer"] == {"kind": "wordpiece", "lower_case": True}
    assert meta["masking"]["unselectable_ids"] == [0, 1, 2, 3, 4]


def test_whole_word_masks_the_tokenizers_words(data, tmp_path):
    out = tmp_path / "out"
    args = ("--whole-word", "--selection-rate", "0.4", "--max-seq-length", "48")
    args += ("--output-format", "jsonl", "--max-predictions-per-seq", "48")
    assert _mask(data, out, *args) == 0
    expected, _ = _read(data["corpus"], raw_text.WordPieceTokenizer(VOCAB), 48)
    lines = (out / "masked-00000-of-00001.jsonl").read_text().splitlines()
    split_words = 0
    for line, want in zip(lines, expected):
        rec = json.loads(line)
        assert _unmasked(rec) == want.ids.tolist()
        masked = set(rec["masked_lm_positions"])
        ends = np.cumsum(want.word_lengths)
        for start, end in zip(ends - want.word_lengths, ends):
            inside = {p for p in range(start, end) if p in masked}
            assert not inside or len(inside) == end - start  # whole words or nothing
            split_words += len(inside) > 1
    assert split_words > 0  # words of several pieces were masked whole


def test_mask_sentencepiece_end_to_end(data, tmp_path, capsys):
    out = tmp_path / "out"
    vocab = ("--sentencepiece-model",)
    corpus = _write(tmp_path / "corpus.txt", _documents(6, 10))
    argv = ("--output-format", "jsonl", "--whole-word", "--max-seq-length", "40")
    assert _mask(data, out, *argv, inputs=[str(corpus)], vocab=vocab) == 0
    capsys.readouterr()
    sp = spm.SentencePieceProcessor(model_file=str(data["sp_model"]))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["mask_token"] == sp.piece_to_id("<mask>")
    assert meta["vocab_size"] == sp.get_piece_size()
    assert meta["vocab"] == str(data["sp_model"])
    assert meta["text_tokenizer"]["kind"] == "sentencepiece"
    assert {sp.unk_id(), sp.bos_id(), sp.eos_id()} <= set(meta["masking"]["unselectable_ids"])
    expected, _ = _read(corpus, raw_text.SentencePieceTokenizer(str(data["sp_model"])), 40)
    lines = (out / "masked-00000-of-00001.jsonl").read_text().splitlines()
    assert [_unmasked(json.loads(x)) for x in lines] == [r.ids.tolist() for r in expected]
    # inspect shows pieces, reading the model recorded in the metadata
    assert cli.main(["inspect", str(out), "-n", "1", "--color", "never"]) == 0
    assert "<s>" in capsys.readouterr().out


def test_id_inputs_with_a_vocabulary_still_read_as_ids(data, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("2 10 11 3\n2 12 13 14 3\n")
    out = tmp_path / "out"
    assert _mask(data, out, "--output-format", "jsonl", inputs=[str(ids)]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input_formats"] == ["text"] and meta["text_tokenizer"] is None
    assert meta["input_records"] == 2


def _one_line_error(capsys, status, got, *fragments):
    err = capsys.readouterr().err
    assert got == status, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_library_is_one_line_naming_the_extra(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    _one_line_error(
        capsys,
        2,
        _mask(data, tmp_path / "out"),
        'tf-mlm mask: error: raw text needs the tokenizers library: pip install "tf_mlm[text]"',
    )
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    _one_line_error(
        capsys,
        2,
        _mask(data, tmp_path / "out", vocab=("--sentencepiece-model",)),
        "tf-mlm mask: error: --sentencepiece-model needs the sentencepiece library: "
        'pip install "tf_mlm[text]"',
    )


def test_raw_text_errors_name_file_and_line(data, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"The cat sat.\n\nA dog \xff ran.\n")
    got = _mask(data, tmp_path / "o", inputs=[str(bad)])
    _one_line_error(capsys, 2, got, f"{bad}:3: not UTF-8")
    _one_line_error(
        capsys, 2, _mask(data, tmp_path / "o", "--max-seq-length", "2"), "--max-seq-length >= 3"
    )
    _one_line_error(
        capsys,
        2,
        _mask(data, tmp_path / "o", "--sentencepiece-model", str(data["sp_model"])),
        "give --vocab or --sentencepiece-model, not both",
    )
    _one_line_error(
        capsys,
        2,
        _mask(data, tmp_path / "o", "--no-lower-case", vocab=("--sentencepiece-model",)),
        "a SentencePiece model normalizes text itself",
    )
    no_cls = tmp_path / "vocab.txt"
    no_cls.write_text("[PAD]\n[UNK]\n[MASK]\nthe\n")
    argv = ["mask", str(data["corpus"]), "-o", str(tmp_path / "o"), "--vocab", str(no_cls)]
    _one_line_error(capsys, 2, cli.main(argv), "needs a [CLS] token")
    argv = ["mask", str(data["corpus"]), "-o", str(tmp_path / "o"), "--vocab-size", "9"]
    _one_line_error(
        capsys,
        2,
        cli.main([*argv, "--mask-token", "4", "--input-format", "raw"]),
        "raw text input needs --vocab",
    )
    assert not (tmp_path / "o").exists()


def test_copies_are_masked_from_one_tokenization(data, tmp_path, monkeypatch):
    from tf_mlm.pretraining import pipeline

    calls = []
    encode = raw_text.WordPieceTokenizer.encode
    monkeypatch.setattr(
        raw_text.WordPieceTokenizer,
        "encode",
        lambda self, lines: calls.append(1) or encode(self, lines),
    )
    args = ("--dupe-factor", "3", "--output-format", "jsonl", "--max-seq-length", "32")
    assert _mask(data, tmp_path / "a", *args) == 0
    assert len(calls) == 1  # one block of lines, tokenized once for the three copies
    monkeypatch.setattr(pipeline, "_CACHE_TOKENS", 100)  # too small: read again per copy
    assert _mask(data, tmp_path / "b", *args) == 0
    assert len(calls) == 4
    name = "masked-00000-of-00001.jsonl"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_reading_ahead_stops_when_closed():
    import threading

    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = raw_text._ahead(items(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    for _ in range(50):
        if not any(t.name == "tf-mlm-tokenize" for t in threading.enumerate()):
            break
        threading.Event().wait(0.05)
    assert not any(t.name == "tf-mlm-tokenize" for t in threading.enumerate())
    assert len(produced) < 10
