"""A question's discussion thread: posting, paging and hiding comments.

Rules, in one place (the question page, the admin form and the API come through here):

- Any logged-in account may comment on any question it can see; the body is Markdown, at most
  :data:`MAX_COMMENT` characters, not blank. It is stored as written and sanitised when shown.
- The thread reads oldest first, in pages of :data:`COMMENTS_PAGE_SIZE`: a page reads that many
  rows plus one count, however long the thread.
- Only an admin may hide a comment, and only with a reason. The comment stays in the database with
  who hid it, when and why; the hide appears in the question's audit log.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Comment, Question, User
from . import Conflict, DomainError, Forbidden, NotFound

#: Longest comment body, in characters (a long post; a pasted essay is refused).
MAX_COMMENT = 5000
#: Longest reason for hiding a comment.
MAX_HIDE_REASON = 500
COMMENTS_PAGE_SIZE = 20


def _clean_text(text: str | None, what: str, limit: int, field_name: str) -> str:
    """``text`` stripped, or a DomainError (400) naming ``field_name`` when it is blank or too long."""
    text = (text or "").strip()
    if not text:
        raise DomainError(f"The {what} is empty; write something first.", field=field_name)
    if len(text) > limit:
        raise DomainError(f"The {what} is {len(text)} characters long; the limit is {limit}.", field=field_name)
    if "\x00" in text:  # PostgreSQL text cannot hold NUL; no person types one
        raise DomainError(f"The {what} contains a NUL character.", field=field_name)
    return text


def post_comment(session: Session, clock: Clock, question: Question, author: User, body: str) -> Comment:
    """Add ``author``'s comment ``body`` (Markdown) to ``question``'s thread, timed by the server.
    Raises DomainError (field 'body') when the body is blank or longer than :data:`MAX_COMMENT`."""
    comment = Comment(question_id=question.id, user_id=author.id, created_at=clock.now(),
                      body=_clean_text(body, "comment", MAX_COMMENT, "body"))
    session.add(comment)
    session.flush()
    return comment


@dataclass
class ThreadPage:
    """One page of a question's comments, each with its author's name."""

    items: list[tuple[Comment, str]] = field(default_factory=list)
    page: int = 1
    pages: int = 1
    total: int = 0
    size: int = COMMENTS_PAGE_SIZE

    @property
    def first_number(self) -> int:
        """The thread position of this page's first comment (1-based), for the list's numbering."""
        return (self.page - 1) * self.size + 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def comment_count(session: Session, question: Question) -> int:
    """How many comments ``question`` has, hidden ones included (they keep their place)."""
    return session.scalar(select(func.count()).select_from(Comment).where(Comment.question_id == question.id)) or 0


def comment_slice(session: Session, question: Question, offset: int, limit: int) -> list[tuple[Comment, str]]:
    """``limit`` comments of ``question`` from position ``offset``, oldest first, with author names."""
    stmt = (select(Comment, User.username).join(User, User.id == Comment.user_id)
            .where(Comment.question_id == question.id).order_by(Comment.created_at, Comment.id)
            .offset(offset).limit(limit))
    return [(comment, name) for comment, name in session.execute(stmt)]


def thread_page(session: Session, question: Question, page: int | None = None,
                size: int = COMMENTS_PAGE_SIZE) -> ThreadPage:
    """Page ``page`` (1-based; None: the last, where the newest comments are) of ``question``'s
    thread. NotFound for a page past the end, DomainError for a page below 1."""
    total = comment_count(session, question)
    pages = max(1, math.ceil(total / size))
    if page is None:
        page = pages
    if page < 1:
        raise DomainError("Comment pages start at 1.", field="comments")
    if page > pages:
        raise NotFound(f"That page of comments does not exist (there {'is' if pages == 1 else 'are'} {pages}).",
                       field="comments")
    return ThreadPage(items=comment_slice(session, question, (page - 1) * size, size), page=page, pages=pages,
                      total=total, size=size)


def page_of(session: Session, comment: Comment, size: int = COMMENTS_PAGE_SIZE) -> int:
    """The page of its thread that ``comment`` is on (to link to it after posting or hiding)."""
    before = session.scalar(
        select(func.count()).select_from(Comment).where(
            Comment.question_id == comment.question_id,
            (Comment.created_at < comment.created_at)
            | ((Comment.created_at == comment.created_at) & (Comment.id < comment.id)),
        )
    ) or 0
    return before // size + 1


def get_comment(session: Session, question: Question, comment_id: int) -> Comment:
    """Comment ``comment_id`` of ``question``; NotFound when there is none (or it is another question's)."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.question_id != question.id:
        raise NotFound("There is no such comment on this question.", field="comment")
    return comment


def hide_comment(session: Session, clock: Clock, comment: Comment, actor: User, reason: str) -> Comment:
    """Hide ``comment`` as ``actor`` (an admin) for ``reason`` (required): the text stays stored,
    with who hid it and when; readers see the reason instead. Forbidden for a non-admin,
    DomainError (field 'reason') without a reason, Conflict when it is already hidden."""
    if not actor.is_admin:
        raise Forbidden("Only admins can hide comments.")
    reason = _clean_text(reason, "reason for hiding", MAX_HIDE_REASON, "reason")
    session.flush()
    session.refresh(comment, with_for_update=True)  # two admins at once: the second sees the first's hide
    if comment.hidden:
        raise Conflict(f"This comment was already hidden by {comment.hidden_by_name}: {comment.hidden_reason}")
    comment.hidden_at = clock.now()
    comment.hidden_by_id = actor.id
    comment.hidden_by_name = actor.username
    comment.hidden_reason = reason
    session.flush()
    return comment


def hidden_comments(session: Session, question: Question) -> list[Comment]:
    """The hidden comments of ``question`` in the order they were hidden (for the audit log)."""
    return list(session.scalars(
        select(Comment).where(Comment.question_id == question.id, Comment.hidden_at.is_not(None))
        .order_by(Comment.hidden_at, Comment.id)
    ))


def may_read_hidden(viewer: User | None) -> bool:
    """Admins still read a hidden comment's text (to review the hide); nobody else does."""
    return viewer is not None and viewer.is_admin
