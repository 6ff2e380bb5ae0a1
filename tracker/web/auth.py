"""Accounts: register, log in, log out, change password. (Filled in by the web issue.)"""
from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")
