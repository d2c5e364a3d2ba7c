"""Stream processors (faust-streaming) that join departments' events into unified views."""
