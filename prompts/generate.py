#!/usr/bin/env python3
"""Generates the IVR prompts: prompts/<language>/<name>.wav, 8 kHz mono 16-bit PCM.

Speech comes from espeak-ng (voices cmn, yue, en) and is resampled by sox. The greeting names
the hospital as config/switchboard.toml spells it under [hospital.spoken_name]. The output is
committed, so the engine runs with no generation step; run this again after changing the
hospital's name or a text below:

    apt-get install espeak-ng sox
    python3 prompts/generate.py [--config config/switchboard.toml]
"""

import argparse
import pathlib
import subprocess
import tempfile
import tomllib

VOICES = {"zh-CN": "cmn", "yue": "yue", "en": "en"}

TEXTS = {
    "zh-CN": {
        "greeting": "您好，{name}，很高兴为您服务。",
        "menu": "预约挂号请按1，医疗咨询请按2，投诉建议请按3，人工服务请按0。粤语服务请按8。For English, press 9.",
        "invalid": "您的输入有误，请重新选择。",
        "no-input": "没有收到您的选择。",
        "transferring": "正在为您转接，请稍候。",
        "after-hours-appointments": "预约挂号的服务时间是周一至周五，上午八点至十二点，下午两点至五点半。现在为您转接值班人员。",
        "after-hours-consultation": "医疗咨询的服务时间是每天早上八点至晚上八点。现在为您转接值班人员。",
        "closing": "祝您早日康复，再见。",
        "position-next": "您是下一位，请稍候。",
        **{f"position-{n}": f"您前面还有{n}位患者在等候，请稍候。" for n in range(1, 10)},
        "position-more": "您前面还有十位以上患者在等候，请稍候。",
        **{f"wait-{n}": f"预计等候时间约{n}分钟。" for n in range(1, 11)},
        "wait-more": "预计等候时间超过十分钟。",
        "callback-offer": "目前所有工作人员都在忙。如需保留您的排队位置并由我们回电，请按1；继续等候请不要挂机。",
        "callback-confirmed": "谢谢，我们会尽快给您回电。再见。",
        "agent-logged-in": "您已签入。",
        "agent-logged-out": "您已签出。",
        "agent-paused": "您已暂停接听。",
        "agent-unpaused": "您已恢复接听。",
        "agent-failed": "操作未成功。",
        "survey": "请您对刚才的服务进行评价：非常满意请按5，满意请按4，一般请按3，不满意请按2，非常不满意请按1。",
        "survey-thanks": "感谢您的评价，祝您早日康复，再见。",
    },
    "yue": {
        "greeting": "你好，{name}，好高興為你服務。",
        "menu": "預約掛號請按1，醫療諮詢請按2，投訴建議請按3，人工服務請按0。普通話服務請按7。For English, press 9.",
        "invalid": "你輸入嘅選擇唔正確，請重新選擇。",
        "no-input": "未收到你嘅選擇。",
        "transferring": "而家為你轉駁，請稍等。",
        "after-hours-appointments": "預約掛號嘅服務時間係星期一至星期五，上晝八點至十二點，下晝兩點至五點半。而家為你轉駁當值人員。",
        "after-hours-consultation": "醫療諮詢嘅服務時間係每日朝早八點至夜晚八點。而家為你轉駁當值人員。",
        "closing": "祝你早日康復，再見。",
        "position-next": "你係下一位，請稍等。",
        **{f"position-{n}": f"你前面仲有{n}位病人等候，請稍等。" for n in range(1, 10)},
        "position-more": "你前面仲有十位以上病人等候，請稍等。",
        **{f"wait-{n}": f"預計等候時間大約{n}分鐘。" for n in range(1, 11)},
        "wait-more": "預計等候時間超過十分鐘。",
        "callback-offer": "而家所有職員都好忙。如果想保留你嘅輪候位置，由我哋覆電，請按1；繼續等候請唔好收線。",
        "callback-confirmed": "多謝，我哋會盡快覆電俾你。再見。",
        "agent-logged-in": "你已經簽到。",
        "agent-logged-out": "你已經簽退。",
        "agent-paused": "你已經暫停接聽。",
        "agent-unpaused": "你已經恢復接聽。",
        "agent-failed": "操作唔成功。",
        "survey": "請你為剛才嘅服務評分：非常滿意請按5，滿意請按4，一般請按3，唔滿意請按2，非常唔滿意請按1。",
        "survey-thanks": "多謝你嘅評分，祝你早日康復，再見。",
    },
    "en": {
        "greeting": "Hello, this is {name}. How may we help you?",
        "menu": "For appointments, press 1. For medical consultation, press 2. For complaints and suggestions, press 3. For an operator, press 0. For Mandarin, press 7. For Cantonese, press 8.",
        "invalid": "Sorry, that is not a valid choice. Please try again.",
        "no-input": "We did not receive your choice.",
        "transferring": "Transferring your call, please hold.",
        "after-hours-appointments": "Appointments are open Monday to Friday, from 8 to 12 in the morning and from 2 to 5:30 in the afternoon. We are putting you through to the staff on duty.",
        "after-hours-consultation": "Medical consultation is open every day from 8 in the morning to 8 in the evening. We are putting you through to the staff on duty.",
        "closing": "We wish you a speedy recovery. Goodbye.",
        "position-next": "You are next. Please hold.",
        "position-1": "There is one patient ahead of you. Please hold.",
        **{f"position-{n}": f"There are {n} patients ahead of you. Please hold." for n in range(2, 10)},
        "position-more": "There are more than ten patients ahead of you. Please hold.",
        "wait-1": "The expected wait is about one minute.",
        **{f"wait-{n}": f"The expected wait is about {n} minutes." for n in range(2, 11)},
        "wait-more": "The expected wait is more than ten minutes.",
        "callback-offer": "All our staff are busy. To keep your place and be called back, press 1. To keep waiting, stay on the line.",
        "callback-confirmed": "Thank you. We will call you back shortly. Goodbye.",
        "agent-logged-in": "You are logged in.",
        "agent-logged-out": "You are logged out.",
        "agent-paused": "You are paused.",
        "agent-unpaused": "You are taking calls again.",
        "agent-failed": "That did not work.",
        "survey": "Please rate the service you just had: very satisfied, press 5; satisfied, 4; neutral, 3; dissatisfied, 2; very dissatisfied, 1.",
        "survey-thanks": "Thank you for your rating. We wish you a speedy recovery. Goodbye.",
    },
}

# Hold music: a slow arpeggio of single sine notes (never two tones at once, so it can never
# look like DTMF), with soft edges, the same in every language folder.
NOTES = [392.0, 494.0, 587.0, 494.0, 440.0, 523.0, 659.0, 523.0, 392.0, 494.0, 587.0, 784.0, 587.0, 494.0, 440.0, 392.0]


def render_music(out: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, f in enumerate(NOTES):
            part = pathlib.Path(tmp) / f"n{i:02}.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(part), "synth", "0.5", "sine", str(f),
                            "fade", "q", "0.05", "0.5", "0.15", "vol", "0.25"], check=True)
            parts.append(str(part))
        subprocess.run(["sox", *parts, str(out)], check=True)


def render_ringback(out: pathlib.Path) -> None:
    """The ringback a phone placing a call hears while the one dialled rings: 450 Hz, one
    second on and four off (the tone of China's phone network), one cycle; the engine
    repeats it."""
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
                    "synth", "1", "sine", "450", "vol", "0.3", "fade", "t", "0.01", "1", "0.01",
                    "pad", "0", "4"], check=True)


def render(voice: str, text: str, out: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        # 8 kHz mono 16-bit, normalised to -3 dBFS, with 100 ms of silence trimmed to at most
        # that at either end so prompts follow each other without long gaps.
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
             "silence", "1", "0.05", "0.5%", "reverse", "silence", "1", "0.05", "0.5%", "reverse",
             "pad", "0.1", "0.1", "gain", "-n", "-3"],
            check=True,
        )


def main() -> None:
    here = pathlib.Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(here.parent / "config" / "switchboard.toml"))
    ap.add_argument("--only", nargs="*", help="render only these prompt names (all when absent)")
    args = ap.parse_args()
    with open(args.config, "rb") as f:
        names = tomllib.load(f)["hospital"]["spoken_name"]
    for lang, voice in VOICES.items():
        d = here / lang
        d.mkdir(exist_ok=True)
        for name, text in TEXTS[lang].items():
            if args.only and name not in args.only:
                continue
            render(voice, text.format(name=names[lang]), d / f"{name}.wav")
            print(f"prompts/{lang}/{name}.wav")
        if not args.only or "hold-music" in args.only:
            render_music(d / "hold-music.wav")
            print(f"prompts/{lang}/hold-music.wav")
        if not args.only or "ringback" in args.only:
            render_ringback(d / "ringback.wav")
            print(f"prompts/{lang}/ringback.wav")


if __name__ == "__main__":
    main()
