"""Regenerates vader_reference.json from the reference implementation.

Source of truth: vaderSentiment 3.3.2 from PyPI (MIT, (c) C.J. Hutto):
    pip download vaderSentiment==3.3.2 --no-deps
    unzip vaderSentiment-3.3.2-py2.py3-none-any.whl -d vader
    PYTHONPATH=vader python3 gen_vader_reference.py > vader_reference.json
(wheel sha256 3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311)
The sentences below are the README examples plus cases exercising each rule
and journal-style text written for this project.
"""
import json
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SENTENCES = [
    # vaderSentiment README / demo examples
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as \U0001F498 and \U0001F48B and \U0001F601",
    "Not bad at all",
    # rule coverage
    "The food here is extremely good.",
    "The food here is marginally good.",
    "It was never so good.",
    "It was without doubt a good day.",
    "This is the least helpful advice.",
    "That was at least fun.",
    "There is no joy in this.",
    "No good or bad news today.",
    "That movie was to die for.",
    "Yeah right, that went well.",
    "That was the kiss of death for the project.",
    "Why would anyone do that??",
    "What is going on????",
    "I am SO HAPPY today",
    "I'm not happy, but I'm not sad either.",
    "Good good good good but bad bad bad",
    "I kind of like it",
    "He is sort of annoying",
    "It's not the worst day ever",
    "I didn't hate it.",
    "I don't feel good",
    "\U0001F622\U0001F622\U0001F622",
    "\u2764\ufe0f love you",
    "",
    "!!!",
    "ALL CAPS SENTENCE WITH GREAT JOY",
    # journal-style
    "I slept badly again and woke up exhausted.",
    "Work was stressful and my manager yelled at me.",
    "I had a wonderful dinner with my sister and we laughed a lot.",
    "I feel hopeless and alone.",
    "Went for a run this morning, feeling proud of myself!",
    "I'm anxious about the appointment tomorrow, but hopeful.",
    "Nothing really happened today.",
    "I am so grateful for my friends.",
    "Everything feels pointless lately and I can't stop crying.",
    "My therapist said I am making progress, which made me really happy.",
]


def generated(n=400, seed=2014):
    """Seeded random sentences mixing lexicon words, boosters, negations,
    'but', idioms, capitals, punctuation, emoticons and emoji, to compare the
    two implementations rule by rule (differential test)."""
    import random
    rnd = random.Random(seed)
    lexicon = ["good", "bad", "happy", "sad", "love", "hate", "great", "terrible", "calm",
               "angry", "lonely", "hope", "hopeless", "kind", "doubt", "no", "fun", "tired",
               "fine", "ok", "worst", "best", "cry", "laugh", "lol", "sux", "nice", "ugly"]
    fillers = ["I", "am", "was", "the", "day", "it", "my", "work", "today", "and", "of", "to",
               "feel", "a", "this", "that", "or", "nor", "at", "least", "very", "so", "kind",
               "of", "sort", "without", "never", "not", "isn't", "don't", "but", "BUT",
               "extremely", "barely", "kinda", "the", "shit", "bomb", "yeah", "right", "die",
               "for", "kiss", "death", "bus", "stop", "beating", "heart", "bad", "ass"]
    extras = [":)", ":(", ":D", "<3", "!!", "?", "??", "!!!!!", "\U0001F601", "\U0001F622",
              "\u2764", "...", ","]
    out = []
    for _ in range(n):
        words = []
        for _ in range(rnd.randint(1, 14)):
            r = rnd.random()
            if r < 0.35:
                w = rnd.choice(lexicon)
            elif r < 0.9:
                w = rnd.choice(fillers)
            else:
                w = rnd.choice(extras)
            if rnd.random() < 0.12:
                w = w.upper()
            if rnd.random() < 0.1:
                w = w + rnd.choice(["!", ".", ",", "?", "!!"])
            words.append(w)
        out.append(" ".join(words))
    return out


a = SentimentIntensityAnalyzer()
out = [{"text": s, "scores": a.polarity_scores(s)} for s in SENTENCES + generated()]
print(json.dumps({"source": "vaderSentiment 3.3.2 (PyPI) SentimentIntensityAnalyzer.polarity_scores", "cases": out}, ensure_ascii=False, indent=1))
