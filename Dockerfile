FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /hookstream ./cmd/hookstream

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hookstream /hookstream
COPY deploy/hookstream.yaml /etc/hookstream/hookstream.yaml
EXPOSE 8080
ENTRYPOINT ["/hookstream"]
CMD ["run", "--config", "/etc/hookstream/hookstream.yaml"]
