"""Question list and question pages. (Filled in by the web issue.)"""
from flask import Blueprint

bp = Blueprint("questions", __name__)
