from django.http import HttpRequest, HttpResponse


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<link rel=stylesheet href=/static/pages/site.css><h1>Hello</h1>")
