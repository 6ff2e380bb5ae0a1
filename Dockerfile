FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY tracker ./tracker
COPY templates ./templates
COPY migrations ./migrations
COPY questions ./questions
RUN pip install --no-cache-dir -c constraints.txt .
ENV TRACKER_ENV=production
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "tracker.wsgi:app"]
