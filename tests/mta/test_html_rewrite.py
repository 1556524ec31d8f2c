"""mta/tracking/html_rewrite.py on its own: which `href` values a browser would follow are the
ones rewritten, each as the browser reads it, and every other character of the document keeps
its place, quoting and case; the footer and pixel go before the last real `</body>`."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mta.tracking.html_rewrite import PIXEL_TAG, rewrite_html


class Links:
    """A `link` function that records each URL it is given and maps it to `[n]`."""

    def __init__(self, keep: str = "") -> None:
        self.seen: list[str] = []
        self.keep = keep  # URLs starting with it are left as they are (None)

    def __call__(self, url: str) -> str | None:
        if self.keep and url.startswith(self.keep):
            return None
        self.seen.append(url)
        return f"[{len(self.seen)}]"


def pixel(url: str) -> str:
    return PIXEL_TAG.format(url=url)


# (source, the URLs `link` receives, the rewritten source)
LINKS = [
    pytest.param('<a href="http://a.test/">x</a>', ["http://a.test/"], '<a href="[1]">x</a>',
                 id="double-quoted"),
    pytest.param("<a href='http://a.test/\"q'>x</a>", ['http://a.test/"q'],
                 "<a href='[1]'>x</a>", id="single-quoted-with-a-double-quote-inside"),
    pytest.param("<a href=http://a.test/?q=1>x</a>", ["http://a.test/?q=1"], "<a href=[1]>x</a>",
                 id="unquoted"),
    pytest.param("<A HREF = \t'http://a.test/' CLASS=X>x</A>", ["http://a.test/"],
                 "<A HREF = \t'[1]' CLASS=X>x</A>", id="uppercase-and-blanks-around-equals"),
    pytest.param('<a\r\n  class="c"\r\n  href="http://a.test/">x</a>', ["http://a.test/"],
                 '<a\r\n  class="c"\r\n  href="[1]">x</a>', id="tag-over-several-lines"),
    pytest.param('<a title="a>b" href="http://a.test/">x</a>', ["http://a.test/"],
                 '<a title="a>b" href="[1]">x</a>', id="greater-than-in-an-earlier-value"),
    pytest.param('<a title="href=no" data-href="no" href="http://a.test/">', ["http://a.test/"],
                 '<a title="href=no" data-href="no" href="[1]">', id="href-in-other-values"),
    pytest.param('<a href="http://one.test/" href="http://two.test/">', ["http://one.test/"],
                 '<a href="[1]" href="http://two.test/">', id="repeated-href-first-counts"),
    pytest.param('<a href="http://a.test/?a=1&amp;b=2&#38;c=&#x33;">', ["http://a.test/?a=1&b=2&c=3"],
                 '<a href="[1]">', id="character-references-resolved"),
    pytest.param('<a href=" \n http://a.test/ \t">', ["http://a.test/"], '<a href="[1]">',
                 id="surrounding-blanks-dropped"),
    pytest.param('<a href="http://a.test/"/>', ["http://a.test/"], '<a href="[1]"/>',
                 id="self-closing"),
    pytest.param('<map><area shape=rect href="http://a.test/"></map>', ["http://a.test/"],
                 '<map><area shape=rect href="[1]"></map>', id="area"),
    pytest.param('<p>Grüße ✓ <a href="http://ä.test/ü">ü</a></p>', ["http://ä.test/ü"],
                 '<p>Grüße ✓ <a href="[1]">ü</a></p>', id="non-ascii-before-and-inside"),
    pytest.param('<a href="">x</a>', [""], '<a href="[1]">x</a>', id="empty-value"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "urls", "expected"), LINKS)
def test_each_link_is_replaced_where_its_value_stands(
    source: str, urls: list[str], expected: str
) -> None:
    links = Links()
    assert rewrite_html(source, links, None) == expected
    assert links.seen == urls


NOT_LINKS = [
    pytest.param('<!-- <a href="http://a.test/"> -->', id="in-a-comment"),
    pytest.param('<script>var a = \'<a href="http://a.test/">\';</script>', id="in-a-script"),
    pytest.param('<style>/* <a href="http://a.test/"> */</style>', id="in-a-style"),
    pytest.param('<link href="http://a.test/s.css" rel=stylesheet>', id="link-element"),
    pytest.param('<img src="http://a.test/i.png"><base href="http://a.test/">', id="img-and-base"),
    pytest.param("<a href>x</a><a download href>y</a><a name=top>z</a>", id="no-value"),
    pytest.param("<p>&lt;a href=&quot;http://a.test/&quot;&gt;</p>", id="escaped-text"),
    pytest.param('<p>href="http://a.test/"</p>', id="plain-text"),
    pytest.param('<a href="http://a.test/', id="unterminated-tag-at-the-end"),
]  # fmt: skip


@pytest.mark.parametrize("source", NOT_LINKS)
def test_what_a_browser_would_not_follow_is_left_alone(source: str) -> None:
    links = Links()
    assert rewrite_html(source, links, None) == source
    assert links.seen == []


def test_links_the_function_declines_keep_their_bytes() -> None:
    source = "<a HREF='mailto:x@a.test'>m</a> <a href=http://a.test/>h</a> <a href=\"tel:1\">t</a>"
    links = Links(keep="mailto:")
    assert rewrite_html(source, links, None) == (
        "<a HREF='mailto:x@a.test'>m</a> <a href=[1]>h</a> <a href=\"[2]\">t</a>"
    )
    assert links.seen == ["http://a.test/", "tel:1"]


# (source, where the footer and pixel go, marked "^")
PLACES = [
    pytest.param("<html><body><p>x</p>^</body></html>", id="before-body-end"),
    pytest.param("<HTML><BODY>x^</BODY ></HTML>", id="uppercase-body-end-with-a-blank"),
    pytest.param("<p>no body at all</p>^", id="no-body-at-the-end"),
    pytest.param("<body>a</body>b^</body>", id="the-last-of-two-body-ends"),
    pytest.param("<body>x^</body><!-- </body> -->", id="not-a-body-end-in-a-comment"),
    pytest.param("<body><script>'</body>'</script>^</body>", id="not-a-body-end-in-a-script"),
    pytest.param("^", id="empty-document"),
]  # fmt: skip


@pytest.mark.parametrize("marked", PLACES)
def test_the_footer_and_pixel_go_before_the_last_body_end(marked: str) -> None:
    source = marked.replace("^", "")
    added = "<p>footer</p>" + pixel("http://t.test/o")
    assert rewrite_html(source, Links(), "http://t.test/o", "<p>footer</p>") == (
        marked.replace("^", added)
    )
    assert rewrite_html(source, Links(), None, None) == source


def test_links_and_the_pixel_together_keep_every_other_character() -> None:
    source = (
        "<!DOCTYPE html>\r\n<HTML><head><style>a{color:red}</style></head>\r\n<Body bgcolor=#fff>"
        "\r\n<A Href='http://one.test/?a=1&amp;b=2'>One</A>&nbsp;&copy;\r\n"
        '<a title="x" href = http://two.test/ >Two</a>\r\n</Body></HTML>\r\n'
    )
    links = Links()
    result = rewrite_html(source, links, "P")
    assert links.seen == ["http://one.test/?a=1&b=2", "http://two.test/"]
    assert result == (
        "<!DOCTYPE html>\r\n<HTML><head><style>a{color:red}</style></head>\r\n<Body bgcolor=#fff>"
        "\r\n<A Href='[1]'>One</A>&nbsp;&copy;\r\n"
        f'<a title="x" href = [2] >Two</a>\r\n{pixel("P")}</Body></HTML>\r\n'
    )


@pytest.mark.parametrize(
    ("value", "followed"),
    [
        ("http://a.test/?a=1&region=eu", "http://a.test/?a=1&region=eu"),
        ("http://a.test/?a=1&copy=2", "http://a.test/?a=1&copy=2"),
        ("http://a.test/?x=1&not=2&para=3", "http://a.test/?x=1&not=2&para=3"),
        ("http://a.test/?a=1&amp;b=2", "http://a.test/?a=1&b=2"),
        ("http://a.test/?a=1&#38;b=2&#x26;c=3", "http://a.test/?a=1&b=2&c=3"),
        ("http://a.test/?a=1&amp", "http://a.test/?a=1&"),
        ("http://a.test/?q=&ampx&ampfoo;", "http://a.test/?q=&ampx&ampfoo;"),
    ],
    ids=[
        "reg-before-a-letter",
        "copy-before-equals",
        "not-and-para",
        "amp-with-semicolon",
        "numeric",
        "legacy-amp-at-the-end",
        "legacy-prefix-of-a-word",
    ],
)
def test_an_ampersand_in_a_link_is_read_as_a_browser_reads_it(value: str, followed: str) -> None:
    links = Links()
    rewrite_html(f'<a href="{value}">x</a>', links, None)
    assert links.seen == [followed]


# Documents made of the pieces that matter to a tokenizer: tags, quotes, entities, comments,
# line ends and text.
PIECES = [
    "<a href=", "<A HREF='", '"', "'", ">", "<", "</a>", "&amp;", "&", "<!--", "-->", "\r\n",
    "\n", " ", "x", "ü", "<body>", "</body>", "<script>", "</script>", "=", "http://a.test/",
]  # fmt: skip
documents = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@given(documents)
def test_declined_links_and_nothing_added_leave_any_document_as_it_was(source: str) -> None:
    assert rewrite_html(source, lambda url: None, None) == source


@given(documents)
def test_only_link_values_change_in_any_document(source: str) -> None:
    """The source is the result with each replacement put back as some stretch of source that
    reads (unescaped, stripped) as the URL `link` was given for it."""
    originals: list[str] = []

    def link(url: str) -> str:
        originals.append(url)
        return "\x00"

    kept = rewrite_html(source, link, None).split("\x00")
    assert len(kept) == len(originals) + 1
    assert source.startswith(kept[0]) and source.endswith(kept[-1])
    at = len(kept[0])
    for url, following in zip(originals, kept[1:], strict=True):
        # A value ends where a quote, blank or ">" ends it: the next kept text starts there.
        end = source.find(following, at) if following else len(source)
        assert end >= at
        assert html.unescape(source[at:end]).strip() == url
        at = end + len(following)
    assert at == len(source)
