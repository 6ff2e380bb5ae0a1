"""Questions, their options and tags."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime

KINDS = ("binary", "multiple_choice")
STATUSES = ("draft", "open", "closed", "resolved", "annulled")
#: A question with one of these statuses has a standing resolution event (it is decided).
FINAL_STATUSES = ("resolved", "annulled")
#: Forecasting has ended: everyone's forecasts may be shown.
CLOSED_STATUSES = ("closed", *FINAL_STATUSES)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (
        CheckConstraint("kind IN ('binary', 'multiple_choice')", name="kind"),
        CheckConstraint("status IN ('draft', 'open', 'closed', 'resolved', 'annulled')", name="status"),
        CheckConstraint("opens_at < closes_at", name="opens_before_close"),
        CheckConstraint("closes_at <= resolve_by", name="closes_before_resolve_by"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    ordered: Mapped[bool] = mapped_column(Boolean, default=False)
    background: Mapped[str] = mapped_column(Text, default="")
    resolution_criteria: Mapped[str] = mapped_column(Text, default="")
    fine_print: Mapped[str] = mapped_column(Text, default="")
    source_quote: Mapped[str] = mapped_column(Text, default="")
    source_passage: Mapped[str] = mapped_column(String(200), default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime)
    # Derived from the times and the latest resolution event; stored so lists and sweeps can query it.
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    options: Mapped[list[QuestionOption]] = relationship(
        back_populates="question", order_by="QuestionOption.position", cascade="all, delete-orphan"
    )
    tags: Mapped[list[QuestionTag]] = relationship(
        back_populates="question", order_by="QuestionTag.tag", cascade="all, delete-orphan"
    )

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    def option_by_key(self, key: str) -> QuestionOption | None:
        return next((o for o in self.options if o.key == key), None)

    def __repr__(self) -> str:
        return f"<Question {self.slug} ({self.status})>"


class QuestionOption(Base):
    __tablename__ = "question_options"
    __table_args__ = (
        UniqueConstraint("question_id", "key"),
        UniqueConstraint("question_id", "position"),
        CheckConstraint("position >= 0", name="position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer)

    question: Mapped[Question] = relationship(back_populates="options")


class QuestionTag(Base):
    __tablename__ = "question_tags"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    question: Mapped[Question] = relationship(back_populates="tags")
