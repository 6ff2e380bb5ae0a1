"""Admin pages: resolution queue, resolve/annul forms, audit log, inbox. (Filled in by the resolution issue.)"""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
