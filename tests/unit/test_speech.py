"""Speech rendering with the real espeak-ng: pinyin input, WAV, cache."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from connectors.speech import SpeechRenderer, speech_input, to_pinyin
from schemas.errors import ConfigError


def test_mandarin_becomes_tone_numbered_pinyin():
    assert to_pinyin("暴雨红色预警") == "bao4 yu3 hong2 se4 yu4 jing3"
    # Neutral tone as 5, punctuation as ASCII, digits left to espeak-ng.
    assert to_pinyin("请转移了，100毫米。") == "qing3 zhuan3 yi2 le5 , 100 hao2 mi3 ."


def test_voices_by_language():
    assert speech_input("暴雨", "zh-CN") == ("cmn-latn-pinyin", "bao4 yu3")
    assert speech_input("暴雨。", "yue") == ("yue", "暴雨. ")
    assert speech_input("Rain", "en") == ("en", "Rain")
    with pytest.raises(ConfigError, match="no voice for language 'fr'"):
        speech_input("pluie", "fr")


def test_render_writes_a_wav_and_caches_it(tmp_path: Path):
    renderer = SpeechRenderer(tmp_path)
    audio = renderer.render("暴雨红色预警，请立即转移。", "zh-CN")

    with wave.open(str(audio.path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (
            1,
            2,
            22050,
        )
        frames = wav.getnframes()
    assert audio.duration_s == pytest.approx(frames / 22050)
    assert audio.duration_s > 1.0  # eleven syllables are not over in a second
    assert audio.size_bytes == audio.path.stat().st_size

    again = renderer.render("暴雨红色预警，请立即转移。", "zh-CN")
    assert again == audio and renderer.rendered == 1
    cantonese = renderer.render("暴雨红色预警，请立即转移。", "yue")
    assert cantonese.path != audio.path and renderer.rendered == 2
