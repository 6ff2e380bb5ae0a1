"""Scoreboards, profiles and CSV downloads. (Filled in by the scoreboard issue.)"""
from flask import Blueprint

bp = Blueprint("scoreboards", __name__, url_prefix="/scoreboard")
