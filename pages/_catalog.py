"""The dashboard's pages, declared once: the navigation (pages/_ui.py), the home page's "where to go next" and the
browser helpers (scripts/browser.py) read this list. Free of Streamlit so a script can import it cheaply."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    url: str  # the URL path, equal to the file name under pages/ (Streamlit's legacy pages/ mode uses the same)
    title: str  # in the navigation
    icon: str
    heading: str  # the page's h1
    what: str  # one line on the home page

    @property
    def file(self) -> str:
        return f"pages/{self.url}.py"


PAGES = (
    PageInfo("home", "Home", ":material/home:", "recengine", "the active dataset and model at a glance"),
    PageInfo("data", "Data", ":material/database:", "Data",
             "pick, generate or import a dataset and look at its statistics"),
    PageInfo("train", "Train & load", ":material/model_training:", "Train & load",
             "train a model with any setting, load or compare runs"),
    PageInfo("evaluation", "Evaluation", ":material/analytics:", "Evaluation",
             "the model beside random and the oracle, by slice, with confidence intervals"),
    PageInfo("diagnostics", "Diagnostics", ":material/monitoring:", "Diagnostics",
             "logits, sigmoid saturation, gradients, fusion weights"),
    PageInfo("new_articles", "New articles", ":material/post_add:", "New articles",
             "write an article and see it scored zero-shot"),
    PageInfo("cold_start", "Cold start", ":material/person_add:", "Cold start",
             "play a brand-new reader and watch the list adapt"),
    PageInfo("compare", "Compare", ":material/compare_arrows:", "Compare",
             "fusions × temperatures × losses by AUC and nDCG"),
    PageInfo("recommend", "Recommend", ":material/recommend:", "Recommend",
             "any reader's history and top-k, with each view's part"),
    PageInfo("live", "Live", ":material/sensors:", "Live",
             "the live service's traffic: new vs old article CTR, A/B arms, updates it triggered"),
)
